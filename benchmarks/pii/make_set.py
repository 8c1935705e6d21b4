"""python benchmarks/pii/make_set.py  (needs `pip install faker`; writes labelled*.jsonl here)

The labelled set for benchmarks/pii_redaction.py: support-ticket turns and FAQ rows with
planted personal data and secrets of every kind the redaction handles, plus traps that must
survive (version numbers, order and status codes, dates, prices, sizes, the workspace's own
allow-listed address and phone). Values come from Faker in ten locales so their formats are
the ones real data has (national phone formats with extensions, IBANs of many countries, all
card brands), not ones chosen to suit the detector. The sentences around them are varied
templates; each record lists its planted values by kind and its traps, with offsets.

The committed file is the output of this script with its fixed seed; the benchmark reads the
file and does not need Faker.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

from faker import Faker

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "en_AU", "en_IN", "es_ES", "it_IT", "nl_NL", "en_CA"]
SUPPORT_EMAIL = "support@lumenly.io"
SUPPORT_PHONE = "+1 (800) 555-0199"
ALLOW = [SUPPORT_EMAIL, SUPPORT_PHONE]
OUT = Path(__file__).with_name("labelled.jsonl")
HELDOUT = Path(__file__).with_name("labelled_heldout.jsonl")


def rand(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def api_key(rng: random.Random) -> str:
    alnum = string.ascii_letters + string.digits
    return rng.choice(
        [
            lambda: "sk-" + rand(rng, 48),
            lambda: "sk-proj-" + rand(rng, 40, alnum + "_-"),
            lambda: "sk_live_" + rand(rng, 24),
            lambda: "pk_test_" + rand(rng, 24),
            lambda: "ghp_" + rand(rng, 36),
            lambda: "github_pat_" + rand(rng, 22) + "_" + rand(rng, 59),
            lambda: "AKIA" + rand(rng, 16, string.ascii_uppercase + string.digits),
            lambda: (
                "xoxb-"
                + "-".join(rand(rng, 12, string.digits) for _ in range(2))
                + "-"
                + rand(rng, 24)
            ),
            lambda: "AIza" + rand(rng, 35, alnum + "_-"),
            lambda: "glpat-" + rand(rng, 20, alnum + "_-"),
            lambda: "hf_" + rand(rng, 34),
            lambda: "SG." + rand(rng, 22, alnum + "_-") + "." + rand(rng, 43, alnum + "_-"),
            lambda: (
                "eyJhbGciOiJIUzI1NiJ9.eyJ"
                + rand(rng, 30, alnum + "_-")
                + "."
                + rand(rng, 43, alnum + "_-")
            ),
            lambda: rand(rng, 32),
            lambda: rand(rng, 40),
            lambda: rand(rng, 64, string.hexdigits.lower()[:16]),
        ]
    )()


def card(fake: Faker, rng: random.Random) -> str:
    num = fake.credit_card_number(
        rng.choice(["visa16", "mastercard", "amex", "discover", "jcb16", "diners", "visa13"])
    )
    sep = rng.choice(["", " ", "-"])
    if not sep:
        return num
    groups = [4, 6, 5] if len(num) == 15 else [4, 6, 4] if len(num) == 14 else [4] * 5
    out, i = [], 0
    for g in groups:
        if i < len(num):
            out.append(num[i : i + g])
            i += g
    return sep.join(out)


def iban(fake: Faker, rng: random.Random) -> str:
    v = fake.iban()
    return " ".join(v[i : i + 4] for i in range(0, len(v), 4)) if rng.random() < 0.5 else v


def value(kind: str, fake: Faker, rng: random.Random) -> str:
    if kind == "email":
        return rng.choice([fake.email, fake.free_email, fake.company_email, fake.ascii_email])()
    if kind == "phone":
        return fake.phone_number()
    if kind == "card":
        return card(fake, rng)
    if kind == "iban":
        return iban(fake, rng)
    if kind == "ip":
        return rng.choice([fake.ipv4_public, fake.ipv4_private, fake.ipv6, fake.ipv4_public])()
    if kind == "api_key":
        return api_key(rng)
    if kind == "url_credentials":
        user, pw = fake.user_name(), fake.password(length=rng.randint(8, 16), special_chars=False)
        host = fake.domain_name()
        return f"{rng.choice(['https', 'postgres', 'mysql', 'ftp', 'redis'])}://{user}:{pw}@{host}"
    if kind == "address":
        return fake.street_address() + rng.choice(["", ", " + fake.city()])
    if kind == "person":
        return fake.name()
    raise ValueError(kind)


TRAPS = [
    lambda r: f"v{r.randint(1, 12)}.{r.randint(0, 30)}.{r.randint(0, 40)}",
    lambda r: f"{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 99)}.{r.randint(1000, 29999)}",
    lambda r: f"ORD-{r.randint(2019, 2026)}-{r.randint(10000, 99999)}",
    lambda r: f"#{r.randint(100000, 99999999)}",
    lambda r: f"RMA-{r.randint(1000, 99999)}",
    lambda r: r.choice(["SHIPPED", "ON_HOLD", "PENDING_REVIEW", "ERR_CONN_RESET", "E1045"]),
    lambda r: f"{r.randint(2019, 2026)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
    lambda r: f"{r.randint(1, 28):02d}/{r.randint(1, 12):02d}/{r.randint(2019, 2026)}",
    lambda r: f"${r.randint(1, 2999):,}.{r.randint(0, 99):02d}",
    lambda r: f"€{r.randint(1, 999)},{r.randint(0, 99):02d}",
    lambda r: f"{r.choice([256, 512, 1024, 2048, 4096])} MB",
    lambda r: f"SKU {r.randint(10000, 99999)}-{r.randint(100, 999)}",
    lambda r: f"{r.randint(1, 99)}%",
    lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
    lambda r: f"{r.randint(1, 5)}x{r.randint(1, 9)}",
    lambda r: str(__import__("uuid").UUID(int=r.getrandbits(128))),
    lambda r: f"build {rand(r, 7, '0123456789abcdef')}",
    lambda r: r.choice([SUPPORT_EMAIL, SUPPORT_PHONE]),
]

SENTENCES = {
    "email": ["You can reach me at {v}.", "My account e-mail is {v}", "please reply to {v} instead",
              "Login: {v}", "cc {v} on this ticket"],
    "phone": ["Call me back on {v}.", "My number is {v}", "Tel: {v}", "text me at {v} if easier",
              "the number on the account is {v}."],
    "card": ["I was charged twice on card {v}.", "Card number: {v}", "paid with {v} yesterday",
             "can you refund to {v}?"],
    "iban": ["Please refund to IBAN {v}.", "My bank account is {v}", "IBAN: {v}",
             "the transfer went to {v} by mistake"],
    "ip": ["The error comes from {v}.", "Our server IP is {v}", "whitelist {v} please",
           "blocked from {v} since Monday"],
    "api_key": ["Here is my API key: {v}", "I pasted the token {v} in the config", "key={v}",
                "Authorization: Bearer {v}", "our secret is {v}, is that right?"],
    "url_credentials": ["The webhook posts to {v}/hooks", "connection string {v}/prod",
                        "I set the endpoint to {v}"],
    "address": ["Ship it to {v}.", "My address is {v}", "Delivery address: {v}",
                "we moved to {v} last month"],
    "person": ["My name is {v}.", "Regards,\n{v}", "Thanks,\n{v}", "Dear {v},"],
}  # fmt: skip
# A second set of phrasings, written before the detectors were measured on it and never used
# to tune them: a check of how the figures hold on wording the detectors have not seen.
HELDOUT_SENTENCES = {
    "email": ["Could you send the invoice to {v}?", "{v} is the address we registered with.",
              "I never got the reset mail at {v}", "(my work address: {v})"],
    "phone": ["You can ring our office on {v} between 9 and 5.", "{v} is my mobile",
              "phone {v}", "I tried calling from {v} twice", "WhatsApp: {v}"],
    "card": ["The charge on {v} is wrong.", "{v} exp 09/27 was declined",
             "the last payment used the card {v}", "Visa {v}"],
    "iban": ["Send the money back to {v} please", "{v} is our company account",
             "Refund account: {v}", "we pay from {v}"],
    "ip": ["Requests from {v} get a 403.", "{v} is our office gateway", "ping {v} times out",
           "the log shows {v} as client"],
    "api_key": ["I accidentally posted {v} in the forum", "export API_TOKEN={v}",
                "\"apiKey\": \"{v}\"", "curl -H 'X-Api-Key: {v}' ..."],
    "url_credentials": ["We sync via {v}/dav/", "Backups go to {v}:21/backup",
                        "DATABASE_URL={v}/app"],
    "address": ["Please send the replacement to {v}.", "Our office: {v}",
                "I'm at {v} this week", "Return label for {v}"],
    "person": ["Best,\n{v}", "{v} here, from accounting.", "Hi, this is {v}.",
               "The account holder is {v}."],
}  # fmt: skip
TRAP_SENTENCES = ["I'm on {t}.", "order {t} still shows that status.", "since {t}",
                  "It says {t} in the app.", "the invoice was {t}", "(ref {t})",
                  "contact {t} per the FAQ", "Updated to {t} today."]  # fmt: skip
FILLER = ["Hi,", "Hello team,", "Thanks for the quick reply.", "The app keeps crashing.",
          "I cannot log in after the update.", "Is there a way to export my data?",
          "Sorry for the trouble.", "Let me check that for you.", "Please try again now.",
          "Resetting the device fixed it.", "How do I change my plan?"]  # fmt: skip


def make_record(
    i: int, rng: random.Random, sentences: dict[str, list[str]] = SENTENCES
) -> dict[str, object]:
    fake = Faker(rng.choice(LOCALES))
    fake.seed_instance(rng.getrandbits(32))
    parts: list[tuple[str, str | None, str | None]] = [(rng.choice(FILLER), None, None)]
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(list(sentences))
        parts.append((rng.choice(sentences[kind]), kind, value(kind, fake, rng)))
    for _ in range(rng.randint(1, 3)):
        parts.append((rng.choice(TRAP_SENTENCES), "trap", rng.choice(TRAPS)(rng)))
    rng.shuffle(parts)
    text, pii, traps = "", [], []
    for template, kind, v in parts:
        if text:
            text += "\n" if template.startswith(("Regards", "Thanks,\n")) else " "
        if kind is None:
            text += template
            continue
        key = "{t}" if kind == "trap" else "{v}"
        start = len(text) + template.index(key)
        text += template.replace(key, str(v))
        entry = {"start": start, "end": start + len(str(v)), "value": v}
        (traps if kind == "trap" else pii).append(
            entry if kind == "trap" else {"kind": kind, **entry}
        )
    return {"id": i, "text": text, "pii": pii, "traps": traps}


def main() -> None:
    for seed, out, sentences in ((19, OUT, SENTENCES), (2026, HELDOUT, HELDOUT_SENTENCES)):
        write(seed, out, sentences)


def write(seed: int, out: Path, sentences: dict[str, list[str]]) -> None:
    rng = random.Random(seed)
    rows = [make_record(i, rng, sentences) for i in range(400)]
    with open(out, "w", encoding="utf-8") as f:
        f.write(json.dumps({"allow": ALLOW}) + "\n")
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    n = sum(len(r["pii"]) for r in rows)  # type: ignore[arg-type]
    print(f"{len(rows)} records, {n} planted values -> {out}")


if __name__ == "__main__":
    main()
