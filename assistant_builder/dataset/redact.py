"""Redaction: personal data and secrets become typed placeholders before anything is trained on.

A model learns its training answers word for word, so a customer's e-mail address in a ticket
would be repeated to the next customer. ``redact_conversation`` replaces what ``dataset.pii``
finds with ``<EMAIL>``, ``<PHONE>``, ``<CARD>``...: the same value gets the same placeholder
throughout one conversation (a second, different address becomes ``<EMAIL_2>``), so a
multi-turn exchange still reads coherently. The workspace allow-list (``workspace.json``
``"redaction": {"allow": [...]}``) keeps what the team wants the model to say: its own support
address, its phone number, a whole domain (``@example.com``). Adding a value there is also how a
reviewer undoes a false positive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant_builder.dataset.pii import DEFAULT_REGIONS, KINDS, Finding, detect

PLACEHOLDER = {
    "url_credentials": "URL_WITH_CREDENTIALS",
    "private_key": "PRIVATE_KEY",
    "api_key": "API_KEY",
    "email": "EMAIL",
    "iban": "IBAN",
    "card": "CARD",
    "ip": "IP",
    "phone": "PHONE",
    "address": "ADDRESS",
    "person": "NAME",
}
SETTINGS_KEY = "redaction"


_NON_DIGIT = re.compile(r"\D")


def _digits(s: str) -> str:
    return _NON_DIGIT.sub("", s)


def normalise(kind: str, value: str) -> str:
    """What makes two spellings of one value the same value (for placeholders and the
    allow-list): case for e-mail, digits for phones and cards, spacing for the rest."""
    if kind in ("phone", "card"):
        return _digits(value)
    if kind == "iban":
        return value.replace(" ", "").upper()
    return " ".join(value.split()).casefold()


@dataclass
class AllowList:
    """Values that must survive redaction. An entry with ``@`` in front allows a whole e-mail
    domain; a phone entry matches any spelling of the same number (compared on its last nine
    digits, so ``+1 (415) 555-0132`` and ``415.555.0132`` are one number)."""

    entries: tuple[str, ...] = ()
    _exact: set[str] = field(default_factory=set, init=False, repr=False)
    _domains: tuple[str, ...] = field(default=(), init=False, repr=False)
    _numbers: tuple[str, ...] = field(default=(), init=False, repr=False)
    _normal: dict[str, set[str]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._exact = {" ".join(e.split()).casefold() for e in self.entries if e.strip()}
        self._domains = tuple(e.strip().casefold() for e in self.entries if e.strip()[:1] == "@")
        self._numbers = tuple(d for d in (_digits(e) for e in self.entries) if len(d) >= 7)
        self._normal = {k: {normalise(k, e) for e in self._exact} for k in ("card", "iban")}

    def allows(self, f: Finding) -> bool:
        text = " ".join(f.text.split()).casefold()
        if text in self._exact:
            return True
        if f.kind == "email" and text.endswith(self._domains) and self._domains:
            return True
        if f.kind == "phone":
            d = _digits(f.text)
            return any(d[-9:] == n[-9:] for n in self._numbers)
        if f.kind in ("card", "iban"):
            return normalise(f.kind, f.text) in self._normal[f.kind]
        return False


@dataclass
class Redactor:
    allow: AllowList = field(default_factory=AllowList)
    kinds: tuple[str, ...] = KINDS
    regions: tuple[str, ...] = DEFAULT_REGIONS
    # Findings of earlier builds by text hash (redact_cache.py), when the workspace has them.
    cache_path: Path | None = None
    store: dict[str, list[list[Any]]] = field(default_factory=dict, repr=False)
    used: set[str] = field(default_factory=set, repr=False)
    # Addresses kept because the workspace's own material publishes them (keep_published).
    published: list[str] = field(default_factory=list)
    # Paraphrased rows repeat one answer several times: detect once per distinct text.
    _cache: dict[str, list[Finding]] = field(default_factory=dict, init=False, repr=False)
    _detected: bool = field(default=False, init=False, repr=False)  # anything not in store

    def find(self, text: str) -> list[Finding]:
        hit = self._cache.get(text)
        if hit is None:
            hit = self._detect(text)
            if hit:
                hit = [f for f in hit if not self.allow.allows(f)]
            if len(self._cache) < 50_000:
                self._cache[text] = hit
        return hit

    def _detect(self, text: str) -> list[Finding]:
        if self.cache_path is None:
            return detect(text, self.kinds, self.regions)
        from assistant_builder.dataset.redact_cache import text_key

        key = text_key(text)
        self.used.add(key)
        spans = self.store.get(key)
        if spans is None:
            found = detect(text, self.kinds, self.regions)
            self.store[key] = [[f.kind, f.start, f.end] for f in found]
            self._detected = True
            return found
        return [Finding(k, s, e, text[s:e]) for k, s, e in spans]

    def save_cache(self) -> None:
        # Nothing new detected and every stored text used: the file holds exactly the store.
        unchanged = not self._detected and self.used == self.store.keys()
        if self.cache_path is not None and not unchanged:
            from assistant_builder.dataset import redact_cache

            redact_cache.save(self.cache_path, self.store, self.used, self.kinds, self.regions)

    def redact_text(
        self, text: str, mapping: dict[tuple[str, str], str] | None = None
    ) -> tuple[str, list[dict[str, str]]]:
        """(redacted text, [{"kind", "found", "placeholder"}]); ``mapping`` carries the
        placeholders of one conversation from turn to turn."""
        hits = self.find(text)
        if not hits:
            return text, []
        mapping = {} if mapping is None else mapping
        out: list[str] = []
        found: list[dict[str, str]] = []
        pos = 0
        for f in hits:
            key = (f.kind, normalise(f.kind, f.text))
            ph = mapping.get(key)
            if ph is None:
                n = 1 + sum(1 for k in mapping if k[0] == f.kind)
                label = PLACEHOLDER[f.kind]
                ph = mapping[key] = f"<{label}>" if n == 1 else f"<{label}_{n}>"
            out += [text[pos : f.start], ph]
            pos = f.end
            found.append({"kind": f.kind, "found": f.text, "placeholder": ph})
        out.append(text[pos:])
        return "".join(out), found


def redact_conversation(
    messages: list[dict[str, Any]],
    redactor: Redactor | None = None,
    *,
    allow: Iterable[str] = (),
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Redacted copies of ``messages`` ({"role", "content"} dicts) and what was replaced, each
    finding with its turn index and role. System messages are the team's own words and stay.
    The serving log calls this before a served conversation can become a training row."""
    redactor = redactor or Redactor(AllowList(tuple(allow)))
    mapping: dict[tuple[str, str], str] = {}
    out: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        content = m.get("content")
        if m.get("role") == "system" or not isinstance(content, str):
            out.append(dict(m))
            continue
        text, found = redactor.redact_text(content, mapping)
        out.append({**m, "content": text})
        findings += [{"turn": i, "role": m.get("role"), **f} for f in found]
    return out, findings


# --- the workspace's policy --------------------------------------------------------------------


def policy(ws: Any) -> dict[str, Any]:
    raw = ws.load_settings().extra.get(SETTINGS_KEY) or {}
    return raw if isinstance(raw, dict) else {}


def workspace_redactor(ws: Any, enabled: bool | None = None) -> Redactor | None:
    """The workspace's redactor, or None where redaction is switched off (``enabled`` overrides
    the setting for one build)."""
    from assistant_builder.errors import UserError

    p = policy(ws)
    if not (p.get("enabled", True) if enabled is None else enabled):
        return None
    kinds = tuple(p.get("kinds") or KINDS)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise UserError(
            f"{ws.settings_path}: unknown redaction kinds {unknown} (known: {', '.join(KINDS)})"
        )
    regions = tuple(str(r).upper() for r in p.get("regions") or DEFAULT_REGIONS)
    from assistant_builder.dataset import redact_cache

    path = ws.cache_dir / "redaction.json"
    return Redactor(
        AllowList(tuple(str(a) for a in p.get("allow", []))),
        kinds,
        regions,
        cache_path=path,
        store=redact_cache.load(path, kinds, regions),
    )


def keep_published(redactor: Redactor, items: Iterable[dict[str, Any]]) -> list[str]:
    """Add the workspace's own published addresses (dataset/pii/published.py) to the
    redactor's allow-list for this build, unless the policy says ``keep_published: false``."""
    from assistant_builder.dataset.pii.published import published_addresses

    found = [a for a in published_addresses(items) if a not in redactor.allow.entries]
    if found:
        redactor.allow = AllowList((*redactor.allow.entries, *found))
        redactor.published = found
        redactor._cache.clear()
    return found


def add_allowed(ws: Any, values: Iterable[str]) -> list[str]:
    """Add ``values`` to the workspace allow-list (kept in order, no duplicates); returns it."""
    settings = ws.load_settings()
    p = dict(settings.extra.get(SETTINGS_KEY) or {})
    allow = [str(a) for a in p.get("allow", [])]
    for v in values:
        v = v.strip()
        if v and v not in allow:
            allow.append(v)
    p["allow"] = allow
    settings.extra[SETTINGS_KEY] = p
    ws.save_settings(settings)
    return allow


def row_redactions(ws: Any) -> dict[str, list[dict[str, Any]]]:
    """What the last build replaced in each example (by example id), from redactions.json."""
    import json

    path = ws.dataset_dir / "redactions.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for ex in data.get("examples", []):
        out.setdefault(str(ex.get("id")), []).extend(ex.get("findings", []))
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals per kind and per source from the per-row report rows."""
    by_kind: dict[str, int] = {}
    by_source: dict[str, dict[str, int]] = {}
    for r in rows:
        src = by_source.setdefault(str(r.get("source")), {})
        for f in r["findings"]:
            by_kind[f["kind"]] = by_kind.get(f["kind"], 0) + 1
            src[f["kind"]] = src.get(f["kind"], 0) + 1
    return {"rows": len(rows), "found": by_kind, "by_source": by_source}


def redact_dataset(
    conversations: list[dict[str, Any]], redactor: Redactor | None
) -> dict[str, Any]:
    """Redact built conversations in place; the report written next to them: per row (example
    id, source, line, what was found and what replaced it) and totals per kind and source."""
    if redactor is None:
        return {"enabled": False, "rows": 0, "found": {}, "by_source": {}, "examples": []}
    examples: list[dict[str, Any]] = []
    for c in conversations:
        c["messages"], findings = redact_conversation(c["messages"], redactor)
        if not findings:
            continue
        meta = c["meta"]
        kinds: dict[str, int] = {}
        for f in findings:
            kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
        meta["redacted"] = kinds
        examples.append(
            {
                "id": meta.get("id"),
                "source": meta.get("source"),
                "line": meta.get("line_start"),
                "findings": findings,
            }
        )
    redactor.save_cache()
    return {"enabled": True, **summarise(examples), "allow": list(redactor.allow.entries),
            "published": redactor.published, "examples": examples}  # fmt: skip


def write_report(path: Path, report: dict[str, Any]) -> None:
    """redactions.json: the totals indented, then one example per line (readable, and written
    with the C encoder: an indented dump of thousands of findings is slow)."""
    import json

    from assistant_builder.workspace import atomic_write_text

    head = json.dumps({k: v for k, v in report.items() if k != "examples"}, indent=2)
    encode = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps makes one per call
    rows = ",\n".join("    " + encode(e) for e in report["examples"])
    inner = f"\n{rows}\n  " if rows else ""
    atomic_write_text(path, f'{head[:-2]},\n  "examples": [{inner}]\n}}\n')


def redact_for_export(ws: Any, rows: list[dict[str, Any]]) -> int:
    """Exports leave the workspace: redact them again with the current policy (a build made
    with ``--no-redact`` or before an allow-list change is still caught). Returns the number of
    rows changed."""
    redactor = workspace_redactor(ws)
    if redactor is None:
        return 0
    if policy(ws).get("keep_published", True):  # as the build kept them
        from assistant_builder.sources.ingest import load_items

        keep_published(redactor, load_items(ws))
    changed = 0
    for row in rows:
        row["messages"], found = redact_conversation(row["messages"], redactor)
        changed += bool(found)
    return changed
