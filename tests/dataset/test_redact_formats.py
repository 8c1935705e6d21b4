"""Formats the first detectors missed or mistook, from benchmarks/pii/wild.jsonl (hand-built
values in ticket contexts): each case here failed before the change that handles it."""

from __future__ import annotations

import pytest

from assistant_builder.dataset.pii import detect
from assistant_builder.dataset.pii.numbers import card_brand_ok

FOUND: list[tuple[str, str, str]] = [
    # Mir cards (2200-2204) are issued with 16-19 digits.
    ("card", "paid with 2200 1234 5678 9019 yesterday", "2200 1234 5678 9019"),
    ("card", "card: 2204-9876-5432-1098", "2204-9876-5432-1098"),
    # Letters in the account part leave no run of seven digits for the cheap digit gate.
    ("iban", "IBAN: LU53 852Z 8XFS 8KPN 0E62", "LU53 852Z 8XFS 8KPN 0E62"),
    ("iban", "refund to SA65 32V8 O8BQ RVWO 3O6P N61U please", "SA65 32V8 O8BQ RVWO 3O6P N61U"),
    ("ip", "remote_addr=::ffff:203.0.113.9 denied", "::ffff:203.0.113.9"),
    # A number followed by another one: the longest run of groups that is a phone number.
    ("phone", "2) Office: +65 9722 1724 3) save", "+65 9722 1724"),
    ("phone", "Direct: +44 20 7946 0994 24 hours", "+44 20 7946 0994"),
    ("email", "From: Jürgen <jürgen@müller-bau.de>", "jürgen@müller-bau.de"),
    ("email", "[YILMAZ.SOFÍA@PROTON.ME]", "YILMAZ.SOFÍA@PROTON.ME"),
    ("email", "mailto:priya.doe+tickets@café-paris.fr", "priya.doe+tickets@café-paris.fr"),
    (
        "api_key",
        "bot 4307831671:AATNSDxBcDDVsS07cc6UVW4zMX8ZPBAEXMk stopped",
        "4307831671:AATNSDxBcDDVsS07cc6UVW4zMX8ZPBAEXMk",
    ),
    (
        "api_key",
        "webhook_url: https://hooks.slack.com/services/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",
        "https://hooks.slack.com/services/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",
    ),
    (
        "api_key",
        "AWS_SECRET_ACCESS_KEY=+eO4kQix1YhnZrT1OWry3koxzM8UHEyiX03mUQj4 and",
        "+eO4kQix1YhnZrT1OWry3koxzM8UHEyiX03mUQj4",
    ),
    # Passwords: after an environment variable's name, in a mysql command line, opening with
    # punctuation, words joined by dashes with a digit, a camelCase JSON key.
    ("api_key", "PGPASSWORD=P@ssw0rd123 psql -h db1", "P@ssw0rd123"),
    ("api_key", "mysql -u root -p'Qwerty!234' -h db1", "Qwerty!234"),
    ("api_key", '"password": "*qXwx!so7J#IUQu"', "*qXwx!so7J#IUQu"),
    ("api_key", "temp password battery-horse-battery83 doesn't work", "battery-horse-battery83"),
    ("api_key", '{"dbPassword": "S3cretPass!"}', "S3cretPass"),
]

KEPT = [
    # A git commit id (40 hex digits) in a log is not a secret; nor a record's name and value.
    "HEAD is now at 6e2544d21e7bae854671e729b01fdfa9eaca8077",
    "(build accf4b8c9ca268c922d6ff15e694c5d733c27c1f)",
    "trace_id=SKU-9224-BLK-XL request_id=ORD-2021-359761",
    # Luhn-valid, but 17 digits opening with a Mastercard prefix: an Amazon order number.
    "order 541-6206007-5310768 shipped",
    "driver 3.19.4.75 and firmware 2.20.2.19",
    "password: ************ (hidden)",
    "token: your-api-token-here",
    "private_key: /etc/ssl/private/server.key",
]


@pytest.mark.parametrize(("kind", "text", "value"), FOUND)
def test_found(kind: str, text: str, value: str) -> None:
    found = [(f.kind, f.text) for f in detect(text)]
    assert (kind, value) in found, found


@pytest.mark.parametrize("text", KEPT)
def test_kept(text: str) -> None:
    assert detect(text) == []


def test_card_lengths_follow_the_brand() -> None:
    assert card_brand_ok("4111111111111") and card_brand_ok("4111111111111111")
    assert not card_brand_ok("41111111111111")  # Visa issues 13, 16 or 19 digits
    assert card_brand_ok("378282246310005") and not card_brand_ok("3782822463100050")
    assert card_brand_ok("5416206007531076")
    assert not card_brand_ok("54162060075310768")  # Mastercard: 16 only
    assert not card_brand_ok("1234567812345670")  # no issuer opens with 1
