"""Redaction: what is found, what survives, placeholders, allow-list, the build and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from assistant_builder.dataset.build import BuildOptions, build_dataset, load_split
from assistant_builder.dataset.pii import detect, iban_ok, luhn_ok
from assistant_builder.dataset.redact import (
    AllowList,
    Redactor,
    add_allowed,
    redact_conversation,
)
from assistant_builder.sources.ingest import ingest_paths

PLANTED: list[tuple[str, str, str]] = [
    ("email", "Write to jane.doe+billing@example.co.uk please", "jane.doe+billing@example.co.uk"),
    ("phone", "Call me on +44 20 7946 0958 today", "+44 20 7946 0958"),
    ("phone", "my number is (415) 555-0132.", "(415) 555-0132"),
    ("phone", "Tel: 030 901820", "030 901820"),
    ("card", "charged on 4111-1111-1111-1111 twice", "4111-1111-1111-1111"),
    ("card", "Amex 3782 822463 10005 expired", "3782 822463 10005"),
    ("iban", "IBAN: DE89 3704 0044 0532 0130 00 thanks", "DE89 3704 0044 0532 0130 00"),
    ("iban", "refund GB82WEST12345698765432", "GB82WEST12345698765432"),
    ("ip", "blocked from 203.0.113.42 since Monday", "203.0.113.42"),
    ("ip", "the gateway is 2001:db8::8a2e:370:7334", "2001:db8::8a2e:370:7334"),
    (
        "url_credentials",
        "DB at postgres://admin:hunter2@db.acme.io/prod ok",
        "postgres://admin:hunter2@db.acme.io/prod",
    ),
    (
        "api_key",
        "my key sk-proj-4fGh7Jk2Lm9Np3Qr5St8Uv1Wx6Yz0Ab",
        "sk-proj-4fGh7Jk2Lm9Np3Qr5St8Uv1Wx6Yz0Ab",
    ),
    ("api_key", "AWS AKIAIOSFODNN7EXAMPLE leaked", "AKIAIOSFODNN7EXAMPLE"),
    ("api_key", "token: 8f3Kq92LmZx7Pw1Rt5Vb0Nc4Yd6Hj2Ga", "8f3Kq92LmZx7Pw1Rt5Vb0Nc4Yd6Hj2Ga"),
    (
        "address",
        "Ship it to 742 Evergreen Terrace, Springfield, IL 62704.",
        "742 Evergreen Terrace",
    ),
    ("person", "Hello, my name is Maria Lopez and I need help", "Maria Lopez"),
]

TRAPS = [
    "Update to v2.14.3 or version 10.0.19041.1 first.",
    "Order ORD-2024-88172 is SHIPPED; RMA-55821 is ON_HOLD.",
    "It happened on 2024-03-15 at 10:30 and again on 15/03/2024.",
    "The Pro plan costs $1,299.00 or €49,99 a month, 20% off.",
    "Order number 48291734 shipped; SKU 12345-678; 2048 MB free.",
    "Commit sha 3f2c1e0b9a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b is the fix.",
    "Order id 754408eb-b492-76b0-8c16-50ee1ac9cf1b is open.",
]


@pytest.mark.parametrize(("kind", "text", "value"), PLANTED)
def test_each_kind_is_found(kind: str, text: str, value: str) -> None:
    found = [(f.kind, f.text) for f in detect(text)]
    assert any(k == kind and value in t for k, t in found), found


@pytest.mark.parametrize("text", TRAPS)
def test_traps_survive(text: str) -> None:
    assert detect(text) == []


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("DE89 3704 0044 0532 0130 00") and not iban_ok("DE89 3704 0044 0532 0130 01")
    # A Luhn-valid number with no card issuer's prefix is an order number, not a card.
    assert detect("ticket 1234 5678 9012 3452") == []


def test_placeholders_are_consistent_within_a_conversation() -> None:
    msgs = [
        {"role": "system", "content": "Support is at help@acme.io."},
        {"role": "user", "content": "I am bob@example.com, card 4111 1111 1111 1111."},
        {"role": "assistant", "content": "Thanks, we wrote to bob@example.com."},
        {"role": "user", "content": "Also use alice@example.com or BOB@example.com."},
    ]
    out, found = redact_conversation(msgs)
    assert out[0] == msgs[0]  # the system prompt is the team's own text
    assert out[1]["content"] == "I am <EMAIL>, card <CARD>."
    assert out[2]["content"] == "Thanks, we wrote to <EMAIL>."
    assert out[3]["content"] == "Also use <EMAIL_2> or <EMAIL>."
    assert [(f["turn"], f["kind"]) for f in found][:2] == [(1, "email"), (1, "card")]
    assert msgs[1]["content"].startswith("I am bob@")  # the input is not changed


def test_allow_list_keeps_the_teams_own_contacts() -> None:
    r = Redactor(AllowList(("support@lumenly.io", "+1 (800) 555-0199", "@lumenly.io")))
    text = (
        "Mail support@lumenly.io or sales@lumenly.io, call 1-800-555-0199 or 800.555.0199; "
        "not jane@gmail.com."
    )
    out, found = r.redact_text(text)
    assert "support@lumenly.io" in out and "sales@lumenly.io" in out
    assert "1-800-555-0199" in out and "800.555.0199" in out
    assert [f["found"] for f in found] == ["jane@gmail.com"]


FAQ_WITH_PII = """# FAQ

## How do I reach support?

E-mail support@lumenly.io or call +1 (800) 555-0199. Engineers: the staging key is
sk_live_51HqLyjWDarjtT1zdp7dcXYZ9wq3.

## Who handles refunds?

Write to Dana at dana.miller@lumenly-partners.com; refunds go back to the card, e.g.
4000 0566 5566 5556, within 5 days. Version 3.2.1 and later show the refund in the app.
"""


@pytest.fixture
def pii_ws(workspace, tmp_path: Path):
    (tmp_path / "faq.md").write_text(FAQ_WITH_PII)
    ingest_paths(workspace, [tmp_path / "faq.md"])
    add_allowed(workspace, ["support@lumenly.io", "+1 (800) 555-0199"])
    return workspace


def _all_text(ws) -> str:
    return json.dumps(load_split(ws, "train") + load_split(ws, "eval"))


def test_build_redacts_by_default_and_reports(pii_ws) -> None:
    report = build_dataset(pii_ws, BuildOptions(variants=1))
    text = _all_text(pii_ws)
    for secret in ("dana.miller@", "4000 0566", "sk_live_51Hq"):
        assert secret not in text
    assert "support@lumenly.io" in text and "+1 (800) 555-0199" in text and "3.2.1" in text
    assert report.redaction["enabled"] and report.redaction["found"]["email"] >= 2
    red = json.loads((pii_ws.dataset_dir / "redactions.json").read_text())
    src = next(iter(red["by_source"]))
    assert src.endswith("faq.md") and set(red["by_source"][src]) == {"email", "card", "api_key"}
    row = next(e for e in red["examples"] if any(f["kind"] == "card" for f in e["findings"]))
    assert row["line"] is not None and row["id"]
    card = next(f for f in row["findings"] if f["kind"] == "card")
    assert card == {**card, "found": "4000 0566 5566 5556", "placeholder": "<CARD>"}
    assert "<CARD>" in text


def test_off_for_one_build_and_exports_still_redacted(pii_ws, tmp_path: Path) -> None:
    from assistant_builder.dataset.formats import export_dataset

    report = build_dataset(pii_ws, BuildOptions(variants=1, redact=False))
    assert report.redaction["enabled"] is False and "dana.miller@" in _all_text(pii_ws)
    info = export_dataset(pii_ws, "openai", tmp_path / "out")
    exported = "".join(p.read_text() for p in (tmp_path / "out" / "openai").glob("*.jsonl"))
    assert info["redacted_rows"] >= 1 and "dana.miller@" not in exported and "<EMAIL>" in exported


def _cli(*args: str, ws: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant_builder", "--workspace", str(ws), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_reports_and_allow_undoes_a_false_positive(pii_ws) -> None:
    r = _cli("dataset", "--variants", "1", "--json", ws=pii_ws.root)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["redaction"]["found"]["card"] >= 1 and out["redaction"]["report"]
    found = [f["found"] for row in out["redaction"]["examples"] for f in row["findings"]]
    assert "dana.miller@lumenly-partners.com" in found
    assert "Redacted in" in r.stderr
    # The reviewer decides the partner address is fine to train on.
    r = _cli("dataset", "--variants", "1", "--allow", "dana.miller@lumenly-partners.com",
             "--json", ws=pii_ws.root)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "dana.miller@lumenly-partners.com" in _all_text(pii_ws)
    settings = json.loads(pii_ws.settings_path.read_text())
    assert "dana.miller@lumenly-partners.com" in settings["redaction"]["allow"]


def test_unknown_kind_in_settings_is_a_user_error(pii_ws) -> None:
    settings = json.loads(pii_ws.settings_path.read_text())
    settings["redaction"]["kinds"] = ["email", "passport"]
    pii_ws.settings_path.write_text(json.dumps(settings))
    r = _cli("dataset", ws=pii_ws.root)
    assert r.returncode == 2 and "passport" in r.stderr and "Traceback" not in r.stderr


def test_labelled_set_meets_the_recall_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The committed labelled set (benchmarks/pii/) scored as the benchmark does it: recall
    targets of the issue per kind, and traps kept (no timing here: benchmarks/README.md)."""
    import importlib.util

    bench = Path(__file__).resolve().parents[2] / "benchmarks"
    spec = importlib.util.spec_from_file_location("pii_bench", bench / "pii_redaction.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name in ("labelled.jsonl", "labelled_heldout.jsonl", "wild.jsonl"):
        allow, records = mod.load(bench / "pii" / name)
        res = mod.score(mod.ours(allow), records)
        recall = {k: v["recall"] for k, v in res["kinds"].items()}
        for kind in ("email", "card", "iban", "api_key", "ip", "url_credentials"):
            assert recall[kind] >= 0.98, (name, kind, recall)
        for kind in ("private_key", "password"):  # wild.jsonl counts them apart
            assert recall.get(kind, 1.0) >= 0.98, (name, kind, recall)
        assert recall["phone"] >= 0.9, (name, recall)
        assert res["traps_destroyed"] <= 0.02, name
        assert all(v["precision"] in (None, 1.0) or v["precision"] >= 0.95
                   for v in res["kinds"].values()), res["kinds"]  # fmt: skip


def test_findings_are_cached_between_builds(pii_ws, monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant_builder.dataset.redact as redact

    build_dataset(pii_ws, BuildOptions(variants=1))
    first = _all_text(pii_ws)
    cache = pii_ws.cache_dir / "redaction.json"
    assert json.loads(cache.read_text())["texts"]
    calls: list[str] = []
    real = redact.detect
    monkeypatch.setattr(redact, "detect", lambda t, *a: calls.append(t) or real(t, *a))
    build_dataset(pii_ws, BuildOptions(variants=1))
    assert calls == [] and _all_text(pii_ws) == first  # read back, same result
    add_allowed(pii_ws, ["dana.miller@lumenly-partners.com"])  # no new detection needed
    build_dataset(pii_ws, BuildOptions(variants=1))
    assert calls == [] and "dana.miller@lumenly-partners.com" in _all_text(pii_ws)
    cache.write_text("{not json")  # a damaged cache is rebuilt, never an error
    build_dataset(pii_ws, BuildOptions(variants=1))
    assert calls and json.loads(cache.read_text())["texts"]


def test_public_technical_strings_in_an_faq_survive() -> None:
    """Real FAQ text (Tor's support FAQ): a log line's timestamp, the loopback and "any"
    addresses, and the release signing key's fingerprint are nobody's personal data."""
    from assistant_builder.dataset.pii import detect

    kept = [
        "2017-10-29 09:23:40.800 [NOTICE] Opening Socks listener on 127.0.0.1:9150",
        "SocksListenAddress 0.0.0.0:9100",
        "Import the Developers signing key (0xEF6E286DDA85EA2A4BA7DE684E2C6E8793298290):",
        "    gpg: imported: 1\n          EF6E286DDA85EA2A4BA7DE684E2C6E8793298290",
    ]
    for text in kept:
        assert detect(text) == [], text
    # Still found: an internal server address, a phone written in groups, a hex token.
    found = detect(
        "server 10.1.2.3, call 0612-34-56-78, token a3f9c2e18b7d4f6a9c0e1b2d3f4a5b6c7d8e9f01"
    )
    assert [f.kind for f in found] == ["ip", "phone", "api_key"]
