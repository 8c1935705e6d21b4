"""Conversations longer than ``max_seq_length``: kept, by raising the length for the run.

A row cut at ``max_seq_length`` loses its end-of-turn token and teaches the model to ramble,
so rows used to be left out with a warning, and long FAQ answers were never learned (5 of 308
on a 78-answer support FAQ). The remedy measured and kept: raise the run's length limit to the
longest row, up to the model's context. With padding-free batches a longer limit costs only
the long rows' own tokens (no padding of the others), so the price is exactly what the
estimate counts. A row longer than the model's context cannot be learned whole; it is left out
and named. Every long row is reported with what was done (``long_rows.jsonl`` in the run).
"""

from __future__ import annotations

from typing import Any


def row_lengths(tokenizer: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Tokens of each prompt/completion row through the model's chat template (a paraphrase
    row cut after its answer's opening counts the tokens it trains: answer_cut.py)."""
    from assistant_builder.train.answer_cut import KEY, tokenize_row

    out = []
    for r in rows:
        if r.get(KEY):
            out.append(len(tokenize_row(tokenizer, r)[0]))
            continue
        ids = tokenizer.apply_chat_template(r["prompt"] + r["completion"], tokenize=True)
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids
        out.append(len(ids))
    return out


def fit(
    lengths: list[int], max_len: int, context: int | None, extend: bool = True
) -> tuple[int, list[dict[str, Any]]]:
    """(the run's length limit, one decision per row longer than ``max_len``).

    ``extend`` raises the limit to the longest row that fits the model's ``context``; without
    it (or past the context) a long row is left out. Decisions: {"row", "tokens", "action"}.
    """
    ctx = context or max(lengths, default=max_len)
    longest_fitting = max((n for n in lengths if n <= ctx), default=max_len)
    limit = max(max_len, longest_fitting) if extend else max_len
    decisions = []
    for i, n in enumerate(lengths):
        if n <= max_len:
            continue
        if n <= limit:
            action = f"kept: max_seq_length raised from {max_len} to {limit} for this run"
        elif extend:
            action = f"left out: {n} tokens is more than the model's context ({ctx})"
        else:
            action = f"left out: longer than max_seq_length={max_len} (fit_long_rows is off)"
        decisions.append({"row": i, "tokens": n, "action": action})
    return limit, decisions


def summary(decisions: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    kept = sum(1 for d in decisions if d["action"].startswith("kept"))
    return {"kept": kept, "left_out": len(decisions) - kept, "max_seq_length": limit}


def describe(decisions: list[dict[str, Any]], limit: int, max_len: int) -> str:
    """One line for the user, '' when no row is long."""
    if not decisions:
        return ""
    s = summary(decisions, limit)
    parts = []
    if s["kept"]:
        parts.append(f"{s['kept']} kept by raising max_seq_length {max_len} → {limit}")
    if s["left_out"]:
        parts.append(f"{s['left_out']} left out (longer than the model's context)")
    return f"{len(decisions)} conversations are longer than max_seq_length={max_len}: " + "; ".join(
        parts
    )
