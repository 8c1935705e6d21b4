"""Whether matched-question retrieval finds the RIGHT FAQ entry for a customer's words, and
keeps off-topic questions below the bar (no training, no model; a minute or two).

    python benchmarks/retrieval_match.py                       # the five golden sets below
    python benchmarks/retrieval_match.py --faq FAQ --golden GOLDEN.jsonl [--verbose]
    python benchmarks/retrieval_match.py --options none,none+variants,default  # compare

Each FAQ is ingested and its dataset (and so its retrieval index) built in a temporary
workspace. For the golden file's verbatim and reworded questions, a question counts as *right*
when the entry retrieval matches (``retrieval.answer.match_entry``: best BM25 entry, over the
coverage bar) is the one that answers it; *wrong* when an entry over the bar is another
answer's (the run would then answer the wrong question); otherwise it is asked as typed. A
golden file names no entry, so the right one is the entry its reference answer retrieves first
in a plain index of the entries' questions and answers (the same rule as the eval's top-k hit
rate); ``--verbose`` prints each question's gold and match to check that by eye. The other
phrasings a source lists for its questions (QnA exports) are asked word for word too.

Probes are off-topic questions: the 20 built-in ones (compare/probes.py) and the 40 of
``golden/offtopic_probes.jsonl`` (near-domain ones among them, such as installing Python on
Windows for the Homebrew FAQ); each probe over the bar is a false match.

``--options`` lists the index options to compare (``retrieval.terms.IndexOptions``; ``none`` is
the index before them, ``default`` the shipped one) to measure what each adds; ``--bar`` tries
another coverage bar.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import ROOT

sys.path.insert(0, str(ROOT))


def _samples() -> Path:
    for up in (ROOT.parent, ROOT.parent.parent):
        if (up / "shared" / "samples").is_dir():
            return up / "shared" / "samples"
    return ROOT.parent / "shared" / "samples"


def default_sets() -> dict[str, tuple[Path, Path]]:
    s, g = _samples(), ROOT / "benchmarks" / "golden"
    return {
        "homebrew": (s / "homebrew_faq_md" / "FAQ.md", s / "homebrew_faq_md" / "golden.jsonl"),
        "tor": (g / "tor_support_faq.md", g / "tor_support_faq.golden.jsonl"),
        "cloudnote": (ROOT / "data_templates" / "faq.md", g / "cloudnote.jsonl"),
        "qnabot": (s / "qnabot_faq_json" / "blog-samples-final.json", g / "qnabot.jsonl"),
        "smartlight": (
            s / "smartlight_faq_tsv" / "smartLightFAQ_allfeatures.tsv",
            g / "smartlight.jsonl",
        ),
    }


def probes() -> list[str]:
    from assistant_builder.compare.probes import BUILTIN_PROBES

    path = ROOT / "benchmarks" / "golden" / "offtopic_probes.jsonl"
    extra = [json.loads(line)["question"] for line in path.read_text().splitlines() if line]
    return [*BUILTIN_PROBES, *extra]


def options(spec: str) -> Any:
    """``default``, ``none``, or ``none+feature+...`` / ``default-feature-...``; a feature is
    an IndexOptions field (``title_weight=2`` for a number)."""
    import re
    from dataclasses import replace

    from assistant_builder.retrieval.index import IndexOptions

    parts = re.split(r"([+-])", spec.replace(" ", ""))
    opts = IndexOptions.none() if parts[0] == "none" else IndexOptions()
    for sign, feat in zip(parts[1::2], parts[2::2], strict=True):
        name, _, value = feat.partition("=")
        opts = replace(opts, **{name: int(value) if value else sign == "+"})
    return opts


def measure_all(
    faq: Path, golden_path: Path, bar: float, specs: list[str], verbose: bool, check: Any = None
) -> dict[str, dict[str, Any]]:
    from assistant_builder.dataset.build import build_dataset
    from assistant_builder.retrieval.index import Index, IndexOptions, open_index
    from assistant_builder.sources.ingest import ingest_paths
    from assistant_builder.workspace import Workspace

    golden = [json.loads(line) for line in golden_path.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp))
        ws.create()
        ingest_paths(ws, [faq])
        build_dataset(ws)
        built, _ = open_index(ws)
        plain = Index.build(Path(tmp) / "plain", built.passages, [], IndexOptions.none())
        out = {}
        for i, spec in enumerate(specs):
            index = Index.build(Path(tmp) / f"v{i}", built.passages, [], options(spec))
            if verbose:
                print(f"  -- {spec}")
            out[spec] = measure(index, plain, golden, bar, verbose, check)
        return out


def measure(
    index: Any, plain: Any, golden: list[dict[str, Any]], bar: float, verbose: bool, check: Any
) -> dict[str, Any]:
    import time

    from assistant_builder.retrieval.answer import match_entry as _match

    spent: list[float] = []

    def match_entry(*args: Any) -> Any:
        t = time.perf_counter()
        m = _match(*args)
        spent.append(time.perf_counter() - t)
        return m

    if True:
        out: dict[str, Any] = {"passages": len(index.passages)}
        for split in ("verbatim", "reworded"):
            rows = [g for g in golden if bool(g.get("paraphrase")) == (split == "reworded")]
            right = wrong = top1 = 0
            for g in rows:
                gold = plain.search(g.get("reference") or "", 1).hits
                gold_group = gold[0].passage.group if gold else None
                m = match_entry(index, g["question"], bar, check)
                first = index.search(g["question"], 1).hits
                top1 += bool(first) and first[0].passage.group == gold_group
                ok = m.hit is not None and m.hit.passage.group == gold_group
                right += ok
                wrong += m.hit is not None and not ok
                if verbose:
                    mark = "RIGHT" if ok else ("WRONG" if m.hit else "typed")
                    got = first[0].passage.title[:50] if first else "-"
                    want = gold[0].passage.title[:50] if gold else "-"
                    print(f"  {split[:4]} {mark:5} {m.coverage:.2f} {g['question'][:60]!r}")
                    print(f"        best: {got!r}  gold: {want!r}")
            out[split] = {"n": len(rows), "right": right, "wrong": wrong, "top1": top1}
        over = []
        for q in probes():
            m = match_entry(index, q, bar, check)
            if m.hit is not None:
                over.append(q)
                if verbose:
                    print(f"  probe over the bar {m.coverage:.2f} {q!r} -> {m.hit.passage.title!r}")
        out["probes"] = {"n": len(probes()), "over": len(over)}
        # The source's own other phrasings of a question (QnA exports list several), asked
        # word for word: a customer who types one should get its entry.
        asked = [(v, p.group) for p in index.passages for v in p.variants]
        found = [match_entry(index, v, bar, check).hit for v, _ in asked]
        right = [
            h is not None and h.passage.group == g for h, (_, g) in zip(found, asked, strict=True)
        ]
        out["variants"] = {"n": len(asked), "right": sum(right)}
        out["ms_per_question"] = round(1000 * sum(spent) / max(1, len(spent)), 1)
        return out


def main(argv: list[str] | None = None) -> int:
    from assistant_builder.retrieval.answer import DEFAULT_MIN_COVERAGE

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faq", type=Path)
    ap.add_argument("--golden", type=Path)
    ap.add_argument("--bar", type=float, default=DEFAULT_MIN_COVERAGE)
    ap.add_argument(
        "--options",
        default="none,default",
        help="index options to compare, comma-separated: default, none, none+variants, "
        "default-acronyms, default+title_weight=2 ...",
    )
    ap.add_argument(
        "--check",
        action="store_true",
        help="with the model check of the best entries (retrieval/check.py), as the eval and "
        "serve match; loads the default model",
    )
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    check = None
    if args.check:
        from assistant_builder.retrieval.check import EntryCheck

        check = EntryCheck.default()
    sets = default_sets()
    if args.faq or args.golden:
        if not (args.faq and args.golden):
            ap.error("--faq and --golden go together")
        sets = {args.faq.stem: (args.faq, args.golden)}
    specs = [x.strip() for x in args.options.split(",") if x.strip()]
    print(f"bar {args.bar}" + (", with the model check" if check else ""))
    print(
        "| FAQ (entries) | index | verbatim right | source variants right | reworded right "
        "(top-1) | reworded wrong | probes over |"
    )
    print("|---|---|---|---|---|---|---|")
    total: dict[str, dict[str, int]] = {s: {"right": 0, "n": 0, "wrong": 0, "over": 0, "probes": 0}
                                        for s in specs}  # fmt: skip
    times: list[float] = []
    for name, (faq, golden) in sets.items():
        if args.verbose:
            print(f"{name}:")
        results = measure_all(faq, golden, args.bar, specs, args.verbose, check)
        for spec, r in results.items():
            v, w, p, sv = r["verbatim"], r["reworded"], r["probes"], r["variants"]
            print(
                f"| {name} ({r['passages']}) | {spec} | {v['right']}/{v['n']} | "
                f"{sv['right']}/{sv['n']} | "
                f"{w['right']}/{w['n']} ({w['top1']}) | {w['wrong']} | {p['over']}/{p['n']} |"
            )
            times.append(r["ms_per_question"])
            t = total[spec]
            t["right"] += w["right"]
            t["n"] += w["n"]
            t["wrong"] += w["wrong"]
            t["over"] += p["over"]
            t["probes"] += p["n"]
    print(f"matching time per question (all sets, mean): {statistics.mean(times):.1f} ms")
    for spec, t in total.items():
        print(
            f"all sets, {spec}: reworded right {t['right']}/{t['n']}, wrong {t['wrong']}; "
            f"probes over {t['over']}/{t['probes']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
