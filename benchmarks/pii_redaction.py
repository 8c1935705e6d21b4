"""python benchmarks/pii_redaction.py [--set FILE] [--libraries] [--build-repeats 5] [--faq DIR]
[--against OTHER_CHECKOUT ...]

Redaction quality and cost, on a labelled set (benchmarks/pii/make_set.py writes one):

1. Precision and recall per kind. A planted value counts as found when at least 80% of its
   letters and digits are covered by what the detector replaces (any kind: a phone taken for a
   card is still gone); a detection counts as correct when it overlaps a planted value.
2. Trap tokens destroyed: traps (versions, order and status codes, dates, prices, the
   allow-listed address and phone) with any character replaced.
3. Detection speed (texts per second) and the added dataset build time. Three workspaces:
   the Homebrew FAQ (``--faq``, default ../shared/samples/homebrew_faq_md), the starter FAQ
   (data_templates/) and a ticket-heavy one (the Homebrew FAQ plus the labelled texts as 400
   support tickets). Each is built in rounds of three: redaction off, on with no findings kept
   from an earlier build (a first build), on again (a rebuild, which reads
   cache/redaction.json); the medians of the per-round ratios to "off" are reported. Each
   timed build runs in a fresh process (what ``assistant-builder dataset`` pays, the lazy
   imports inside the build included); ``--same-process`` times them all in this one instead, and
   ``--command`` the whole ``assistant-builder dataset`` command (interpreter start, CLI, the
   summary), which is what a user waits for.

``--against DIR ...`` times the builds of other checkouts (main's, say: ``git worktree add``)
in the same rounds, interleaved, so that two versions of the detectors are compared under the
same load; CPU seconds only.

``--libraries`` also measures presidio-analyzer (pattern recognizers only, on a blank spaCy
tokenizer, so no model is downloaded), scrubadub and datafog where they are installed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

Span = tuple[int, int, str]  # start, end, kind
Detector = Callable[[str], list[Span]]


def load(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    return lines[0]["allow"], lines[1:]


def ours(allow: list[str]) -> Detector:
    from assistant_builder.dataset.redact import AllowList, Redactor

    r = Redactor(AllowList(tuple(allow)))
    return lambda text: [(f.start, f.end, f.kind) for f in r.find(text)]


def presidio(allow: list[str]) -> Detector:
    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    engine.nlp = {"en": spacy.blank("en")}  # tokens only: no NER model to download
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    kinds = {
        "EMAIL_ADDRESS": "email",
        "PHONE_NUMBER": "phone",
        "CREDIT_CARD": "card",
        "IBAN_CODE": "iban",
        "IP_ADDRESS": "ip",
        "PERSON": "person",
        "LOCATION": "address",
    }

    def run(text: str) -> list[Span]:
        res = analyzer.analyze(text, language="en", allow_list=allow)
        return [(x.start, x.end, kinds.get(x.entity_type, "other")) for x in res]

    return run


def scrubadub_(allow: list[str]) -> Detector:
    import scrubadub

    scrubber = scrubadub.Scrubber()
    kinds = {"email": "email", "phone": "phone", "credit_card": "card", "credential": "api_key",
             "url": "other", "postalcode": "address", "name": "person"}  # fmt: skip

    def run(text: str) -> list[Span]:
        out = []
        for f in scrubber.iter_filth(text):
            if f.text not in allow:
                out.append((f.beg, f.end, kinds.get(f.type, "other")))
        return out

    return run


def datafog_(allow: list[str]) -> Detector:
    import datafog

    kinds = {"EMAIL": "email", "PHONE": "phone", "CREDIT_CARD": "card", "IP_ADDRESS": "ip"}

    def run(text: str) -> list[Span]:
        res = datafog.scan(text, allowlist=allow)
        return [(e.start, e.end, kinds.get(e.type, "other")) for e in res.entities]

    return run


def _covered(start: int, end: int, text: str, spans: list[Span]) -> float:
    idx = [i for i in range(start, end) if text[i].isalnum()]
    hit = sum(1 for i in idx if any(s <= i < e for s, e, _ in spans))
    return hit / len(idx) if idx else 0.0


def score(detect: Detector, records: list[dict[str, Any]]) -> dict[str, Any]:
    per: dict[str, dict[str, int]] = {}
    traps = destroyed = 0
    misses: list[tuple[str, str]] = []
    wrong: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    found_all = [detect(r["text"]) for r in records]
    seconds = time.perf_counter() - t0
    for r, spans in zip(records, found_all, strict=True):
        text = r["text"]
        for p in r["pii"]:
            k = per.setdefault(p["kind"], {"planted": 0, "found": 0, "det": 0, "ok": 0})
            k["planted"] += 1
            if _covered(p["start"], p["end"], text, spans) >= 0.8:
                k["found"] += 1
            else:
                misses.append((p["kind"], p["value"]))
        for s, e, kind in spans:
            k = per.setdefault(kind, {"planted": 0, "found": 0, "det": 0, "ok": 0})
            k["det"] += 1
            if any(s < p["end"] and e > p["start"] for p in r["pii"]):
                k["ok"] += 1
            else:
                wrong.append((kind, text[s:e]))
        for t in r["traps"]:
            traps += 1
            destroyed += any(s < t["end"] and e > t["start"] for s, e, _ in spans)
    return {
        "kinds": {
            k: {
                "planted": v["planted"],
                "recall": v["found"] / v["planted"] if v["planted"] else None,
                "precision": v["ok"] / v["det"] if v["det"] else None,
            }
            for k, v in sorted(per.items())
        },
        "traps": traps,
        "traps_destroyed": destroyed / traps if traps else 0.0,
        "texts_per_second": len(records) / seconds,
        "misses": misses,
        "false_positives": wrong,
    }


def make_workspace(root: Path, faq: Path, records: list[dict[str, Any]], allow: list[str]) -> Path:
    """A workspace of ``faq`` and, when given, ``records`` as one support ticket each."""
    from assistant_builder.dataset.redact import add_allowed
    from assistant_builder.sources.ingest import ingest_paths
    from assistant_builder.workspace import Workspace

    root.mkdir(parents=True)
    paths = [faq]
    if records:
        chats = root / "tickets.jsonl"
        with open(chats, "w", encoding="utf-8") as f:
            for r in records:
                for role, text in (("customer", r["text"]), ("agent", "Thanks, we are on it.")):
                    f.write(json.dumps({"ticket_id": r["id"], "author_type": role, "body": text}))
                    f.write("\n")
        paths.append(chats)
    ws = Workspace(root / "ws")
    ws.create()
    ingest_paths(ws, paths)
    add_allowed(ws, allow)
    return ws.root


def time_build(ws_root: Path, mode: str) -> tuple[float, float]:
    """Wall and CPU seconds of one dataset build; ``mode``: off, cold (no
    cache/redaction.json) or warm. CPU time is what a loaded machine distorts least."""
    from assistant_builder.dataset.build import BuildOptions, build_dataset
    from assistant_builder.workspace import Workspace

    ws = Workspace(ws_root)
    if mode == "cold":
        (ws.cache_dir / "redaction.json").unlink(missing_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    build_dataset(ws, BuildOptions(redact=mode != "off"))
    return time.perf_counter() - t0, time.process_time() - c0


def _time_fresh(ws_root: Path, mode: str, tree: Path = REPO) -> tuple[float, float]:
    """One timed build in a new process, with the package of ``tree`` (a checkout)."""
    script = tree / "benchmarks" / "pii_redaction.py"
    cmd = [sys.executable, str(script), "--time-build", str(ws_root), mode]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    wall, cpu = out.split()[-2:]
    return float(wall), float(cpu)


def _time_command(ws_root: Path, mode: str) -> tuple[float, float]:
    """One ``assistant-builder dataset`` command as a user runs it (interpreter start, CLI,
    imports, build, the summary printed); CPU seconds of the child from ``getrusage``."""
    import resource

    if mode == "cold":
        (ws_root / "cache" / "redaction.json").unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "assistant_builder", "--workspace", str(ws_root), "--json",
           "dataset", *(["--no-redact"] if mode == "off" else [])]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True, env=env)
    r1, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter() - t0
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def paired_overhead(ws_root: Path, repeats: int, trees: list[Path]) -> list[dict[str, float]]:
    """The rounds of build_overhead for several checkouts interleaved: each round builds off /
    first build / rebuild with every checkout (their order turning round by round), so a load
    that changes during the run falls on all of them alike. CPU seconds; medians of the
    per-round ratios to the same checkout's "off" of that round."""
    for tree in trees:
        _time_fresh(ws_root, "off", tree)  # untimed: writes the dataset folder, warms caches
    times: dict[Path, dict[str, list[float]]] = {
        t: {"off": [], "cold": [], "warm": []} for t in trees
    }
    for r in range(repeats):
        for tree in trees[r % len(trees) :] + trees[: r % len(trees)]:
            for mode in ("off", "cold", "warm"):
                times[tree][mode].append(_time_fresh(ws_root, mode, tree)[1])
    out = []
    for tree in trees:
        t = times[tree]
        out.append(
            {
                "off": statistics.median(t["off"]),
                **{m: statistics.median(t[m]) for m in ("cold", "warm")},
                **{
                    f"added_{m}": statistics.median(
                        b / a for a, b in zip(t["off"], t[m], strict=True)
                    )
                    - 1
                    for m in ("cold", "warm")
                },
            }
        )
    return out


def build_overhead(ws_root: Path, repeats: int, how: str = "fresh") -> dict[str, Any]:
    """Paired dataset builds of one workspace with redaction off and on (alternating); ``how``:
    fresh (a process per build), process (all in this one) or command (the CLI command)."""
    timer = {"fresh": _time_fresh, "process": time_build, "command": _time_command}[how]
    timer(ws_root, "off")  # a first build writes the dataset folder: not timed
    times: dict[str, list[tuple[float, float]]] = {"off": [], "cold": [], "warm": []}
    for _ in range(repeats):
        for mode in ("off", "cold", "warm"):
            times[mode].append(timer(ws_root, mode))

    def added(mode: str, i: int) -> float:
        pairs = zip(times["off"], times[mode], strict=True)
        return statistics.median(b[i] / a[i] for a, b in pairs) - 1

    report = json.loads((ws_root / "dataset" / "report.json").read_text(encoding="utf-8"))
    return {
        "rows": report["train"] + report["eval"],
        **{f"{m}_s": statistics.median(t[0] for t in v) for m, v in times.items()},
        **{f"{m}_cpu": statistics.median(t[1] for t in v) for m, v in times.items()},
        **{f"added_{m}": added(m, 0) for m in ("cold", "warm")},
        **{f"added_{m}_cpu": added(m, 1) for m in ("cold", "warm")},
    }


def build_table(
    records: list[dict[str, Any]], allow: list[str], repeats: int, faq: Path | None,
    how: str, against: list[Path] | None = None,
) -> None:  # fmt: skip
    samples = REPO.parent / "shared" / "samples" / "homebrew_faq_md"
    faq = faq or (samples if samples.is_dir() else None)
    starter = REPO / "data_templates"
    cases: list[tuple[str, Path, list[dict[str, Any]]]] = [
        ("starter FAQ (data_templates)", starter, [])
    ]
    if faq is None:
        print("Homebrew FAQ not found (../shared/samples): pass --faq; starter FAQ only")
        cases.append(("starter FAQ + the labelled tickets", starter, records))
    else:
        cases[:0] = [(f"Homebrew FAQ ({faq.name})", faq, [])]
        cases.append((f"Homebrew FAQ + {len(records)} labelled tickets", faq, records))
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        # Without .pyc files every fresh process compiles the detectors' source again (~10 ms
        # a first build pays and "off" does not), which an installed package never does.
        print("note: PYTHONDONTWRITEBYTECODE is set; unset it for figures a user would see")
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, path, recs) in enumerate(cases):
            ws_root = make_workspace(Path(tmp) / str(i), path, recs, allow)
            if against:
                trees = [REPO, *against]
                for tree, b in zip(trees, paired_overhead(ws_root, repeats, trees), strict=True):
                    rows.append(
                        f"| {name} | {tree} | {b['off']:.3f} s | {b['cold']:.3f} s "
                        f"({b['added_cold']:+.1%}) | {b['warm']:.3f} s ({b['added_warm']:+.1%}) |"
                    )
                continue
            b = build_overhead(ws_root, repeats, how)
            rows.append(
                f"| {name} | {b['rows']} | {b['off_s']:.3f} s / {b['off_cpu']:.3f} s "
                f"| {b['cold_s']:.3f} s ({b['added_cold']:+.1%}) / {b['cold_cpu']:.3f} s "
                f"({b['added_cold_cpu']:+.1%}) | {b['warm_s']:.3f} s ({b['added_warm']:+.1%}) / "
                f"{b['warm_cpu']:.3f} s ({b['added_warm_cpu']:+.1%}) |"
            )
    if against:
        print(f"\nAdded dataset build time, CPU, median of {repeats} interleaved rounds (a fresh "
              f"process per build; load average {load:.2f} before, {os.getloadavg()[0]:.2f} "
              "after):")  # fmt: skip
        print("| workspace | checkout | off | first build (added) | rebuild (added) |")
        print("|---|---|---|---|---|")
        print("\n".join(rows))
        return
    said = {"process": "one process", "fresh": "a fresh process per build",
            "command": "the whole `assistant-builder dataset` command"}[how]  # fmt: skip
    print(f"\nAdded dataset build time, median of {repeats} rounds ({said}; load average "
          f"{load:.2f} before, {os.getloadavg()[0]:.2f} after):")  # fmt: skip
    print("| workspace | rows | off (wall / CPU) | first build, no cache (wall / CPU) "
          "| rebuild, cache (wall / CPU) |")  # fmt: skip
    print("|---|---|---|---|---|")
    print("\n".join(rows))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", type=Path, default=REPO / "benchmarks" / "pii" / "labelled.jsonl")
    ap.add_argument("--libraries", action="store_true")
    ap.add_argument("--build-repeats", type=int, default=5)
    ap.add_argument("--show-misses", action="store_true")
    ap.add_argument("--faq", type=Path, help="Homebrew FAQ folder (default: ../shared/samples)")
    ap.add_argument("--same-process", action="store_true", help="time every build in this one")
    ap.add_argument(
        "--command",
        action="store_true",
        help="time the whole `assistant-builder dataset` command (interpreter start and CLI "
        "included) instead of the build function in a fresh process",
    )
    ap.add_argument(
        "--against",
        type=Path,
        nargs="+",
        help="other checkouts (e.g. main's) whose builds are timed in the same rounds",
    )
    ap.add_argument("--time-build", nargs=2, metavar=("WORKSPACE", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.time_build:  # the child of one timed build
        print(*time_build(Path(args.time_build[0]), args.time_build[1]))
        return
    allow, records = load(args.set)
    engines: dict[str, Callable[[list[str]], Detector]] = {"assistant-builder": ours}
    if args.libraries:
        engines |= {"presidio-analyzer (patterns)": presidio, "scrubadub": scrubadub_,
                    "datafog (regex)": datafog_}  # fmt: skip
    results = {}
    for name, make in engines.items():
        try:
            results[name] = score(make(allow), records)
        except ImportError as e:
            print(f"{name}: not installed ({e})")
    for name, res in results.items():
        print(f"\n## {name}: {len(records)} texts, {res['texts_per_second']:.0f} texts/s, "
              f"traps destroyed {res['traps_destroyed']:.1%} of {res['traps']}")  # fmt: skip
        print("| kind | planted | recall | precision |\n|---|---|---|---|")
        for k, v in res["kinds"].items():
            rec = "-" if v["recall"] is None else f"{v['recall']:.3f}"
            prec = "-" if v["precision"] is None else f"{v['precision']:.3f}"
            print(f"| {k} | {v['planted']} | {rec} | {prec} |")
        if args.show_misses:
            print("misses:", res["misses"][:40])
            print("false positives:", res["false_positives"][:40])
    if args.build_repeats:
        against = [p.resolve() for p in args.against or []]
        how = "process" if args.same_process else "command" if args.command else "fresh"
        build_table(records, allow, args.build_repeats, args.faq, how, against)


if __name__ == "__main__":
    main()
