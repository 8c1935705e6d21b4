"""How close the dataset's phrasings come to the way customers ask, per paraphrase source.

    python benchmarks/paraphrase_coverage.py --faq ../shared/samples/homebrew_faq_md/FAQ.md \\
        --golden ../shared/samples/homebrew_faq_md/golden.jsonl

No training: for each paraphrase setting (none, ``--paraphrases rules``, ``--paraphrases
semantic``) it builds the dataset with the real CLI and asks, for every reworded golden
question (``paraphrase: true``), (1) whether the training phrasing nearest to it (F1 on
content words) belongs to the right answer, the answer that holds most of the golden reference
(reference recall), and (2) how close the right answer's nearest phrasing is (that F1). A
model can only learn to map a customer's wording to an answer if phrasings like it are in its
data; this is the cheap half of the story, measured in seconds. Whether the tuned model then
answers better is what ``benchmarks/quality.py`` measures (training, minutes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from assistant_builder.dataset.paraphrase import STOPWORDS
from assistant_builder.metrics import reference_recall, tokens

SETTINGS = {
    "none": ["--variants", "0"],
    "rules": ["--paraphrases", "rules"],
    "semantic": ["--paraphrases", "semantic"],
}


def content_f1(a: str, b: str) -> float:
    """Word-overlap F1 on content words: "the", "how", "do" say nothing about which answer."""
    x = {t for t in tokens(a) if t not in STOPWORDS}
    y = {t for t in tokens(b) if t not in STOPWORDS}
    common = len(x & y)
    return 0.0 if not common else 2 * common / (len(x) + len(y))


def _cli(ws: Path, *args: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "assistant_builder", "--workspace", str(ws), "--json", *args]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{args[0]} failed: {p.stderr.strip()[-600:]}")
    out: dict[str, Any] = json.loads(p.stdout)
    return out


def _groups(ws: Path) -> dict[str, tuple[str, list[str]]]:
    groups: dict[str, tuple[str, list[str]]] = {}
    for line in (ws / "dataset" / "conversations.jsonl").read_text().splitlines():
        row = json.loads(line)
        msgs, g = row["messages"], row["meta"]["group"]
        q = next(m["content"] for m in msgs if m["role"] == "user")
        groups.setdefault(g, (msgs[-1]["content"], []))[1].append(q)
    return groups


def coverage(ws: Path, golden: list[dict[str, Any]]) -> dict[str, Any]:
    groups = _groups(ws)
    phrasings = [(q, g) for g, (_, qs) in groups.items() for q in qs]
    rows = []
    for item in golden:
        # The answer that holds most of the reference (ROUGE-L's F-measure favours short ones).
        right = max(groups, key=lambda g: reference_recall(groups[g][0], item["reference"]))
        nearest = max(phrasings, key=lambda p: content_f1(item["question"], p[0]))
        best = max(content_f1(item["question"], q) for q in groups[right][1])
        rows.append({"question": item["question"], "hit": nearest[1] == right, "f1": best})
    n = max(len(rows), 1)
    return {
        "phrasings": len(phrasings),
        "nearest_is_right": sum(r["hit"] for r in rows),
        "of": len(rows),
        "mean_f1_to_right": round(sum(r["f1"] for r in rows) / n, 3),
        "rows": rows,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--faq", action="append", required=True)
    p.add_argument("--golden", required=True)
    p.add_argument("--workspace", help="folder for the workspace (default: a temporary one)")
    opts = p.parse_args()
    golden = [json.loads(x) for x in Path(opts.golden).read_text().splitlines() if x.strip()]
    reworded = [g for g in golden if g.get("paraphrase")]
    ws = Path(opts.workspace or tempfile.mkdtemp(prefix="coverage_"))
    _cli(ws, "init")
    _cli(ws, "ingest", *[str(Path(f).resolve()) for f in opts.faq])
    results = {}
    for name, args in SETTINGS.items():
        report = _cli(ws, "dataset", *args)
        results[name] = coverage(ws, reworded) | {"notices": report.get("notices", [])}
    print("| paraphrases | phrasings | nearest phrasing is the right answer | mean F1 to it |")
    print("| --- | --- | --- | --- |")
    for name, r in results.items():
        print(
            f"| {name} | {r['phrasings']} | {r['nearest_is_right']}/{r['of']} | "
            f"{r['mean_f1_to_right']:.3f} |"
        )
    (ws / "coverage.json").write_text(json.dumps(results, indent=2))
    print(f"details: {ws / 'coverage.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
