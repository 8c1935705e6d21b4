"""The update's guard: answers the parent knew must still come back word for word.

An update (``train --from RUN``) trains on the changed rows and a replay share of the unchanged
ones, and that is usually enough; but a greedy answer is fragile. One token of a long answer
that the update tipped the other way derails everything after it, and the replayed row does not
always pull it back (measured on the Homebrew FAQ: 1-3 of 12 unchanged answers lost after
updates with a replay share of 0.25, a lower learning rate or a longer warm-up alike).

So the parent process writes ``data/guard.jsonl``: one row per unchanged answer, its source's
own question first (``guard_rows``). After the update has trained, the child checks each with
one forward pass (``reproduces``): the answer is still the model's greedy choice at every
position, its end-of-turn token included, exactly when greedy decoding gives it back word for
word. Answers the parent reproduced but the update does not are *broken*. The child then trains
one more epoch on every guarded answer, the broken ones twice, and the changed and new rows (so
the edits hold), and checks all of them again. Training the broken answers alone repaired them
but tipped three others over; with every guarded answer in the repair, all the parent's
word-for-word answers came back (benchmarks/README.md, "Incremental update"). A check costs
one forward pass per unchanged answer (a training step's cost per row, without the backward).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

GUARD_FILE = "guard.jsonl"
REPAIR_EPOCHS = 1
ROLE_KEY = "update"  # meta key of an update's training rows: changed, new or replayed


def guard_rows(rows: list[dict[str, Any]], unchanged: list[int]) -> list[dict[str, Any]]:
    """One row per unchanged answer (by group): the source's own question where there is one."""
    from assistant_builder.train.incremental import _group  # that module imports this one

    best: dict[str, dict[str, Any]] = {}
    for i in unchanged:
        row = rows[i]
        g = _group(row)
        extracted = (row.get("meta") or {}).get("how") == "extracted"
        if g not in best or (extracted and (best[g].get("meta") or {}).get("how") != "extracted"):
            best[g] = row
    return list(best.values())


def _encode(tokenizer: Any, row: dict[str, Any]) -> tuple[list[int], int]:
    """(prompt + answer + end-of-turn token ids, where the answer starts), through the chat
    template as generation sees it: the prompt with the assistant's turn opened."""
    messages = row["messages"]
    prompt = tokenizer.apply_chat_template(
        messages[:-1], tokenize=False, add_generation_prompt=True
    )
    whole = tokenizer.apply_chat_template(messages, tokenize=False)
    if not whole.startswith(prompt):  # a template that rewrites earlier turns: not checkable
        return [], 0
    head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    tail_text = whole[len(prompt) :].rstrip("\n")
    tail = tokenizer(tail_text, add_special_tokens=False)["input_ids"]
    return head + tail, len(head)


def reproduces(model: Any, tokenizer: Any, rows: list[dict[str, Any]]) -> list[bool | None]:
    """Per row: whether greedy decoding gives its answer back word for word (None: the chat
    template could not be split into prompt and answer, so the row was not checked)."""
    import torch

    out: list[bool | None] = []
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            for row in rows:
                ids, start = _encode(tokenizer, row)
                if not ids or start >= len(ids):
                    out.append(None)
                    continue
                x = torch.tensor([ids], device=device)
                logits = model(input_ids=x).logits[0, start - 1 : len(ids) - 1]
                out.append(bool((logits.argmax(-1) == x[0, start:]).all()))
    finally:
        model.train(was_training)
    return out


def read_guard(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "data" / GUARD_FILE
    if not path.is_file():
        return []
    from assistant_builder.dataset.conversations import read_conversations

    return read_conversations(path)


def kept_rows(run_dir: Path) -> list[dict[str, Any]]:
    """The update's changed and new rows: trained again with the broken ones, so the repair
    does not undo the edits."""
    from assistant_builder.dataset.conversations import read_conversations

    rows = read_conversations(run_dir / "data" / "train.jsonl")
    return [r for r in rows if (r.get("meta") or {}).get(ROLE_KEY) in ("changed", "new")]


def repair(
    trainer: Any, run_dir: Path, rows: list[dict[str, Any]], before: list[bool | None], emit: Any
) -> dict[str, Any]:
    """After the update trained: check ``rows`` again and train the broken ones (exact before,
    not now) with the changed rows for REPAIR_EPOCHS; the report for metrics.json."""
    from datasets import Dataset

    from assistant_builder.train.launch import to_prompt_completion

    model, tok = trainer.model, trainer.processing_class
    after = reproduces(model, tok, rows)
    broken = [r for r, b, a in zip(rows, before, after, strict=True) if b and a is False]
    report: dict[str, Any] = {
        "checked": len(rows),
        "parent_exact": sum(b is True for b in before),
        "update_exact": sum(a is True for a in after),
        "broken": len(broken),
        "broken_questions": [r["messages"][-2]["content"] for r in broken],
        "repaired": 0,
    }
    if not broken:
        return report
    # Every guarded answer once (training the broken ones alone tips others over), the broken
    # ones once more, and the edits so the repair does not undo them: one epoch.
    train_rows = to_prompt_completion(rows + broken + kept_rows(run_dir))
    emit("repair", broken=len(broken), rows=len(train_rows), epochs=REPAIR_EPOCHS)
    data = Dataset.from_list(train_rows)
    trainer.train_dataset = trainer._prepare_dataset(data, tok, trainer.args, False, None, "train")
    trainer.args.num_train_epochs = REPAIR_EPOCHS
    trainer.args.max_steps = -1
    trainer.lr_scheduler = None  # a fresh schedule; the optimizer keeps its moments
    result = trainer.train()
    # All of them again: the repair must not have tipped another answer over.
    again = reproduces(model, tok, rows)
    fixed = {id(r) for r in broken}
    report["repaired"] = sum(a is True for r, a in zip(rows, again, strict=True) if id(r) in fixed)
    report["exact_after_repair"] = sum(
        a is True for b, a in zip(before, again, strict=True) if b is True
    )
    report["repair_steps"] = trainer.state.global_step
    report["repair_tokens"] = int(trainer.state.num_input_tokens_seen or 0)
    report["repair_loss"] = result.training_loss
    return report
