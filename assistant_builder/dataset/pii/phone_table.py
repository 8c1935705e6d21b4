"""Phone number length rules, read once from libphonenumber's metadata and kept here as data.

Asking the ``phonenumbers`` package costs a ticket-heavy dataset build more than the rest of
redaction together: its import, each region's metadata module, and a full ``parse`` per
candidate and region. The question redaction asks is only "is this a possible length for that
country", so the lengths (and each region's trunk prefix) are kept in ``phone_lengths.json``
next to this file. ``python -m assistant_builder.dataset.pii.phone_table`` rewrites the file
from the installed ``phonenumbers``; tests/dataset/test_phone_table.py checks the file against
it and the answers against ``phonenumbers.is_possible_number`` on every candidate of the
labelled sets.

The check is a little more permissive than libphonenumber's (it does not match each region's
number patterns before stripping a trunk prefix): a candidate gets here only after the words
or shape around it said "phone".
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("phone_lengths.json")


@functools.cache
def _table() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(TABLE.read_text(encoding="utf-8"))
    return data


def _fits(digits: str, lengths: list[int], prefix: str) -> bool:
    if len(digits) in lengths:
        return True
    return bool(prefix) and digits.startswith(prefix) and len(digits) - len(prefix) in lengths


def possible_international(digits: str) -> bool:
    """``digits``: everything after the ``+`` (or ``00``). The country code is the shortest
    one to three leading digits that name a country, as libphonenumber reads it."""
    codes = _table()["codes"]
    for n in (1, 2, 3):
        entry = codes.get(digits[:n])
        if entry is not None:
            lengths, prefix = entry
            return _fits(digits[n:], lengths, prefix)
    return False


def possible_national(digits: str, region: str) -> bool | None:
    """None when the table does not know ``region``."""
    entry = _table()["regions"].get(region)
    if entry is None:
        return None
    lengths, prefix = entry
    return _fits(digits, lengths, prefix)


def generate() -> dict[str, Any]:
    """The table, from the installed ``phonenumbers``' metadata."""
    import phonenumbers
    from phonenumbers import PhoneMetadata
    from phonenumbers.phonenumberutil import SUPPORTED_REGIONS

    def entry(meta: Any) -> list[Any]:
        desc = meta.general_desc
        lengths = sorted(set(desc.possible_length) | set(desc.possible_length_local_only or ()))
        return [lengths, meta.national_prefix or ""]

    regions = {r: entry(PhoneMetadata.metadata_for_region(r)) for r in sorted(SUPPORTED_REGIONS)}
    codes = {}
    for cc, names in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()):
        main = names[0]
        meta = (
            PhoneMetadata.metadata_for_nongeo_region(cc)
            if main == "001"
            else PhoneMetadata.metadata_for_region(main)
        )
        if meta is not None:
            codes[str(cc)] = entry(meta)
    return {"phonenumbers": phonenumbers.__version__, "codes": codes, "regions": regions}


def write() -> None:
    TABLE.write_text(json.dumps(generate(), separators=(",", ":")) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write()
