"""How close each question's best entry is: the bar that decides when matched-question
retrieval stands the FAQ's question in for the customer's (no training, no model; seconds).

    python benchmarks/retrieval_match.py --faq ../shared/samples/homebrew_faq_md/FAQ.md \
        --golden ../shared/samples/homebrew_faq_md/golden.jsonl
    python benchmarks/retrieval_match.py --faq benchmarks/golden/tor_support_faq.md \
        --golden benchmarks/golden/tor_support_faq.golden.jsonl

Ingests the FAQ and builds the dataset (and so the retrieval index) in a temporary workspace,
then prints, for the golden file's verbatim and reworded questions and the built-in off-topic
probes (compare/probes.py), the coverage of the best entry (``Index.coverage``: the share of
the question's weight the entry holds) and how many clear the bar (``--bar``, default the
shipped one). Reworded questions should clear it, probes should not.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from _common import ROOT

sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from assistant_builder.compare.probes import BUILTIN_PROBES
    from assistant_builder.dataset.build import build_dataset
    from assistant_builder.retrieval.answer import DEFAULT_MIN_COVERAGE
    from assistant_builder.retrieval.index import open_index
    from assistant_builder.sources.ingest import ingest_paths
    from assistant_builder.workspace import Workspace

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faq", type=Path, required=True)
    ap.add_argument("--golden", type=Path, required=True)
    ap.add_argument("--bar", type=float, default=DEFAULT_MIN_COVERAGE)
    args = ap.parse_args(argv)
    golden = [json.loads(line) for line in args.golden.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp))
        ws.create()
        ingest_paths(ws, [args.faq])
        build_dataset(ws)
        index, _ = open_index(ws)
        groups: dict[str, list[str]] = {"verbatim": [], "reworded": [], "probes": []}
        for g in golden:
            groups["reworded" if g.get("paraphrase") else "verbatim"].append(g["question"])
        groups["probes"] = list(BUILTIN_PROBES)
        print(f"{args.faq}: {len(index.passages)} passages, bar {args.bar}")
        for name, questions in groups.items():
            covers = []
            for q in questions:
                hits = index.search(q, 1).hits
                covers.append(index.coverage(q, hits[0].passage) if hits else 0.0)
            cleared = sum(c >= args.bar for c in covers)
            shown = " ".join(f"{c:.2f}" for c in sorted(covers))
            print(f"{name:9} {cleared:3d} of {len(covers):3d} clear the bar; coverage: {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
