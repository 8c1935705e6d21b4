"""Paraphrase rows trained on the answer's opening only (recipe ``paraphrase_answer_tokens``).

Cost is answers x phrasings x epochs, and every phrasing of a question used to re-train the
whole answer. A paraphrase row only needs to teach that the new wording leads to this answer:
once the answer has started, the model continues it as it learned from the row with the
source's own question, which keeps the whole answer and its end-of-turn token. So a paraphrase
row (``meta.how == "paraphrased"``) trains only the first N tokens of its answer, and the row is
cut there: the tokens after the cut are not even run through the model, which is where the
time goes. No end-of-turn token is trained at the cut (there is no label after it), so the
model never learns to stop early. A paraphrase whose group has no whole row in the same split
(its source question went to the eval split, or was dropped) keeps its whole answer: something
must teach the answer to the end.

The dataset files stay whole; the cut is made here, when rows are tokenized for training, and
the same lengths feed ``long_rows`` and the estimate, so both count the tokens really trained.
"""

from __future__ import annotations

from typing import Any

# How a row was made (dataset meta) for the rows that may be cut: the dataset's own rewordings.
# A source's listed variants ("variant") are the team's own wording and stay whole.
CUT_HOWS = frozenset({"paraphrased"})
KEY = "answer_tokens"  # on a prompt/completion row: train only this many answer tokens


def cuts(conversations: list[dict[str, Any]], answer_tokens: int) -> list[int | None]:
    """Per conversation: the answer tokens to train (None: the whole answer)."""
    if answer_tokens <= 0:
        return [None] * len(conversations)
    metas = [c.get("meta") or {} for c in conversations]
    whole_groups = {m.get("group") for m in metas if m.get("how") not in CUT_HOWS}
    return [
        answer_tokens if m.get("how") in CUT_HOWS and m.get("group") in whole_groups else None
        for m in metas
    ]


def tokenize_row(tokenizer: Any, row: dict[str, Any]) -> tuple[list[int], list[int]]:
    """(input_ids, completion_mask) of a prompt/completion row, as TRL's SFTTrainer tokenizes
    it (the prompt with the generation header; the completion starts where the two token
    sequences diverge), cut after ``row[KEY]`` answer tokens when the row carries it."""
    from trl.data_utils import common_prefix_length

    def ids(messages: list[dict[str, Any]], header: bool) -> list[int]:
        out = tokenizer.apply_chat_template(
            messages, tokenize=True, add_generation_prompt=header, return_dict=True
        )
        return list(out["input_ids"])

    prompt = ids(row["prompt"], True)
    full = ids(row["prompt"] + row["completion"], False)
    start = common_prefix_length(prompt, full)
    keep = row.get(KEY)
    if keep and len(full) - start > keep:
        full = full[: start + keep]
    return full, [0] * start + [1] * (len(full) - start)


def training_rows(tokenizer: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows to give the trainer: unchanged when none is cut (TRL tokenizes them), else all
    of them tokenized here (TRL takes a tokenized dataset as it is and builds the labels from
    ``completion_mask``)."""
    if not any(r.get(KEY) for r in rows):
        return [{k: v for k, v in r.items() if k != KEY} for r in rows]
    out = []
    for r in rows:
        input_ids, mask = tokenize_row(tokenizer, r)
        out.append({"input_ids": input_ids, "completion_mask": mask})
    return out


def notes(rows: list[dict[str, Any]]) -> list[str]:
    """One line for the run's mode event when rows are cut, else none."""
    cut = [r[KEY] for r in rows if r.get(KEY)]
    if not cut:
        return []
    return [
        f"{len(cut)} of {len(rows)} rows (paraphrases) train only the first {cut[0]} tokens of "
        "their answer; the source's own question trains the whole answer"
    ]
