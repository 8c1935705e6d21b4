"""Question generation for prose sections (files without Q/A structure).

Strategy ``template`` is offline and deterministic: questions are built from the section's
heading path. The answer is the section text itself, so the pair is grounded by construction.
"""

from __future__ import annotations

import re
from typing import Any

from assistant_builder.errors import UserError

MAX_ANSWER_CHARS = 1500
STRATEGIES = ("template",)

_QUESTION_START = re.compile(
    r"^(how|what|why|when|where|which|who|can|could|do|does|is|are|should|will|may)\b", re.I
)


def _clean_heading(h: str) -> str:
    return re.sub(r"\s+", " ", h.replace("`", "")).strip().rstrip(":.")


def template_questions(heading_path: list[str]) -> list[str]:
    """Two or three natural questions for a heading, e.g. 'Installing on Linux' →
    'How do I install on Linux?'."""
    if not heading_path:
        return []
    h = _clean_heading(heading_path[-1])
    if not h:
        return []
    context = _clean_heading(heading_path[0]) if len(heading_path) > 1 else ""
    if h.endswith("?") or _QUESTION_START.match(h):
        qs = [h if h.endswith("?") else h + "?"]
    else:
        lower = h[0].lower() + h[1:]
        words = lower.split()
        if words and words[0].endswith("ing") and len(words[0]) > 4:
            # "Installing on Linux" → "How do I install on Linux?"
            verb = words[0][:-3]
            if verb.endswith(("tall", "ll")):
                pass
            elif len(verb) > 2 and verb[-1] == verb[-2]:
                verb = verb[:-1]
            qs = [f"How do I {' '.join([verb, *words[1:]])}?"]
        else:
            qs = [f"What should I know about {lower}?"]
        qs.append(f"Can you explain {lower}?")
    if context and context.lower() not in qs[0].lower():
        qs.append(f"{qs[0][:-1]} ({context})?")
    return qs


def questions_for_section(
    item: dict[str, Any], strategy: str = "template"
) -> list[tuple[str, str]]:
    if strategy not in STRATEGIES:
        raise UserError(f"unknown question strategy {strategy!r} (choose {', '.join(STRATEGIES)})")
    text = item.get("text", "").strip()
    if len(text) < 40:
        return []
    if len(text) > MAX_ANSWER_CHARS:
        cut = text[:MAX_ANSWER_CHARS]
        text = cut[: cut.rfind("\n\n")] if "\n\n" in cut else cut
    return [(q, text) for q in template_questions(item.get("heading_path", []))]
