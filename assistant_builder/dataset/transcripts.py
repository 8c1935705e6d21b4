"""Support transcripts (``kind: "conversation"`` items) to multi-turn training conversations.

Each transcript is its own group, so the train/eval split is by conversation: no turn of an
eval conversation is trained on. Duplicates (the same exchange exported twice, or in two
files) are dropped by the normalised text of all their turns. A person's review applies as for
single-turn rows (reject drops it); text edits are for single-turn rows only.
"""

from __future__ import annotations

import hashlib
from typing import Any

from assistant_builder.dataset.build import example_id, normalize_question


def transcript_conversations(
    items: list[dict[str, Any]],
    edits: dict[str, dict[str, Any]],
    system_prompt: str | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(conversations, dropped) for the transcript items among ``items``."""
    out: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items:
        if item.get("kind") != "conversation":
            continue
        turns = [t for t in item.get("turns", []) if t.get("content", "").strip()]
        first_q = next((t["content"] for t in turns if t["role"] == "user"), "")
        key = "\n".join(f"{t['role']}:{normalize_question(t['content'])}" for t in turns)
        digest = hashlib.sha256(key.encode()).hexdigest()
        ex_id = example_id(item.get("source") or "", f"conversation:{item['conversation_id']}")
        edit = edits.get(ex_id)
        review = edit["review"] if edit else "new"
        where = {"question": first_q[:200], "source": item.get("source")}
        if item.get("line_start") is not None:
            where["line"] = item["line_start"]
        if not any(t["role"] == "assistant" for t in turns):
            dropped.append({**where, "reason": "empty"})
            continue
        if digest in seen:
            dropped.append({**where, "reason": "duplicate"})
            continue
        if review == "rejected":
            dropped.append({**where, "reason": "rejected"})
            continue
        seen.add(digest)
        if edit and edit.get("sha256") and edit["sha256"] != item.get("sha256"):
            review = "stale"
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        messages += [{"role": t["role"], "content": t["content"].strip()} for t in turns]
        meta = {
            "id": ex_id,
            "group": f"conv-{digest[:12]}",
            "how": "transcript",
            "review": review,
            "conversation_id": item["conversation_id"],
            "turns": len(turns),
            **{k: item.get(k) for k in ("source", "format", "line_start", "line_end", "sha256")},
            "page": None,
        }
        out.append({"messages": messages, "meta": meta})
    return out, dropped
