"""The adapter export's optional retrieval bundle: the run's index and a short recipe to use
it, so the adapter can answer from its FAQ's passages the way it was trained to. GGUF and
Ollama exports carry the model alone (they have no place for an index)."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from assistant_builder.retrieval.answer import MATCHED, RetrievalSettings
from assistant_builder.retrieval.index import INDEX_DIR
from assistant_builder.retrieval.prompt import INSTRUCTION

BUNDLE_DIR = "retrieval-index"

RECIPE = """# Retrieval with this adapter

`{folder}/` is the BM25 index of the FAQ this adapter was trained with ({passages} passages:
`passages.jsonl` has each passage's text and source file and lines, `bm25/` the bm25s index;
`settings.json` how this adapter uses it).
{how}

With assistant-builder installed:

```python
import json
from pathlib import Path
from assistant_builder.models.engine import Engine
from assistant_builder.retrieval.answer import RetrievalSettings, answer_with_retrieval
from assistant_builder.retrieval.index import Index

engine = Engine("BASE_MODEL", Path("."))          # this folder is the adapter
index = Index.load(Path("{folder}"))
settings = RetrievalSettings(**json.loads(Path("{folder}/settings.json").read_text()))
ans = answer_with_retrieval(engine, index, "your question", system_prompt=SYSTEM_PROMPT,
                            retrieval=settings)
print(ans.text, ans.sources)
```

Anywhere else (bm25s and PyStemmer){elsewhere}: tokenize the question with
`bm25s.tokenize([q], stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False)`,
keep the words in `bm25s.BM25.load("{folder}/bm25").vocab_dict`, retrieve k={k}, and send this
user message (passages numbered from 1, each its title line and text):

    {instruction}

    [1] <passage 1>

    [2] <passage 2>

    Question: <the question>
"""


MATCHED_HOW = """This adapter was trained closed-book: it answers best the questions it learned.
With retrieval, the question finds its FAQ entry, and the adapter is asked the question it learned
for that entry's answer (`settings.json`: `trained_questions`, per answer group), when the entry
holds at least `min_coverage` of the question's weight; otherwise the question as typed."""
PASSAGES_HOW = """The adapter was trained to answer from the top-{k} passages placed before the
question (layout `{layout}`); with no passage in the prompt it answers from memory."""
MATCHED_ELSEWHERE = (
    ", for a run trained with passages; for this one, send the learned question of the "
    "best passage's `group` instead"
)


def bundle_index(run_dir: Path, tmp: Path) -> dict[str, Any] | None:
    """Copy the run's index into the export with its recipe; None when the run has none."""
    src = run_dir / INDEX_DIR
    if not (src / "meta.json").is_file():
        return None
    shutil.copytree(src, tmp / BUNDLE_DIR)
    settings = RetrievalSettings.from_run(run_dir)
    (tmp / BUNDLE_DIR / "settings.json").write_text(json.dumps(asdict(settings), indent=1))
    passages = sum(1 for line in (src / "passages.jsonl").open(encoding="utf-8") if line.strip())
    k, layout = settings.k, settings.layout
    text = RECIPE.format(
        folder=BUNDLE_DIR,
        passages=passages,
        k=k,
        how=MATCHED_HOW if layout == MATCHED else PASSAGES_HOW.format(k=k, layout=layout),
        elsewhere=MATCHED_ELSEWHERE if layout == MATCHED else "",
        instruction=INSTRUCTION,
    )
    (tmp / "RETRIEVAL.md").write_text(text, encoding="utf-8")
    return {"index": BUNDLE_DIR, "passages": passages, "k": k, "recipe": "RETRIEVAL.md"}
