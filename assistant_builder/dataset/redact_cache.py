"""What the detectors found in each text, kept between builds in ``cache/redaction.json``.

A workspace is rebuilt often (after a review, an allow-list change, a new source) and most of
its texts did not change: their findings are read back instead of detected again. The
allow-list is applied after this cache, so changing it needs no new detection. Entries are
keyed by the text's hash and are valid for one version of the detectors (a hash of their
source and of the phone length table) and one set of kinds and regions; anything else
starts an empty cache. Only the texts of the last build are kept.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from assistant_builder.workspace import atomic_write_text

Store = dict[str, list[list[Any]]]  # text hash -> [[kind, start, end], ...]


@cache
def detector_version() -> str:
    """A hash of the detectors' source and of the phone length table they read (written from
    libphonenumber's metadata, so a new phonenumbers release that changes a length changes the
    table). phonenumbers itself is not looked up: finding its files on the path costs a first
    build more than reading the cache saves, and a build does not import it."""
    h = hashlib.sha256()
    pii = Path(__file__).with_name("pii")
    for f in sorted([*pii.glob("*.py"), *pii.glob("*.json")]):
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _stamp(kinds: tuple[str, ...], regions: tuple[str, ...]) -> dict[str, Any]:
    return {"version": detector_version(), "kinds": list(kinds), "regions": list(regions)}


def load(path: Path, kinds: tuple[str, ...], regions: tuple[str, ...]) -> Store:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or any(
        data.get(k) != v for k, v in _stamp(kinds, regions).items()
    ):
        return {}
    texts = data.get("texts")
    return texts if isinstance(texts, dict) else {}


def save(
    path: Path, store: Store, used: set[str], kinds: tuple[str, ...], regions: tuple[str, ...]
) -> None:
    """Write the entries of the texts just used, unless the file already holds exactly them.
    Compact JSON: the C encoder is many times faster than an indented dump."""
    keep = {k: store[k] for k in sorted(used) if k in store}
    if path.is_file() and load(path, kinds, regions) == keep:
        return
    data = {**_stamp(kinds, regions), "texts": keep}
    atomic_write_text(path, json.dumps(data, separators=(",", ":")) + "\n")
