"""Offline, deterministic paraphrases of a question: the rewordings users actually type.

A model tuned on verbatim FAQ headings learns to answer those headings; users type "how can i
keep old versions around", "brew pin, how?" or "my light won't turn on, what should i do".
Rule-based rewrites of each question, trained on with the same answer, teach the model that
these forms mean the same thing (benchmarks/quality.py measures it on reworded golden
questions).

The rules are grammar templates, not a thesaurus: each one recognises a question shape
("How do I X?", "Why does X?", "What is X?", a symptom statement, ...) and rewrites it into
other shapes with the same meaning, plus casual forms (lower case, no punctuation, keywords).
The same question always gets the same paraphrases (no randomness), so a rebuild is stable.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

DEFAULT_VARIANTS = 3

# Words that carry no topic: dropped in the keyword form ("update my local packages?" →
# "update local packages?").
_STOP_TEXT = (
    "a an the i me my we our you your it its this that these those to of in at for from by "
    "with about into is are was were be been being am do does did doing have has had can could "
    "should would will shall may might must how what why when where which who whom whose "
    "there here please any some so just also too very really"
)
STOPWORDS = frozenset(_STOP_TEXT.split())

_CONTRACTIONS = {
    "can't": "cannot",
    "won't": "will not",
    "don't": "do not",
    "doesn't": "does not",
    "isn't": "is not",
    "aren't": "are not",
    "didn't": "did not",
    "haven't": "have not",
    "what's": "what is",
}

_QUESTION_TEXT = (
    "how what why when where which who whom whose can could do does did is are was were should "
    "will would may might must shall has have had am isn't aren't doesn't don't can't won't "
    "what's where's who's how's"
)
_QUESTION_WORDS = frozenset(_QUESTION_TEXT.split())

Rule = Callable[[str], list[str]]


def _body(q: str) -> str:
    """The question without its final punctuation, curly quotes made straight."""
    q = q.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", " ", q).strip().rstrip("?.!:;").strip()


def _lower_first(s: str) -> str:
    # Keep acronyms and names that are capitalised throughout ("macOS", "API", "iPhone").
    first = s.split(" ", 1)[0]
    if first == "I" or first.startswith(("I'", "I\u2019")):
        return s
    if len(first) > 1 and (first[1:].lower() != first[1:] or first.isupper()):
        return s
    return s[:1].lower() + s[1:]


def _upper_first(s: str) -> str:
    return s[:1].upper() + s[1:]


def casual(q: str) -> str:
    """How people type into a chat box: lower case, no backticks, no final punctuation."""
    s = _body(q).replace("`", "").lower()
    s = re.sub(r"[\"“”?!,;]", "", s)
    return re.sub(r"\s+", " ", s).strip()


def keywords(q: str) -> str:
    """The content words only, as a search-box query: 'How do I pin a formula?' → 'pin formula?'"""
    words = [w for w in re.split(r"\s+", _body(q)) if w]
    # A capital mid-sentence is a name ("Q and A Bot"), not the article "A".
    kept = [
        w
        for i, w in enumerate(words)
        if w.lower().strip("`'\",()") not in STOPWORDS or (i > 0 and w[:1].isupper() and w != "I")
    ]
    return " ".join(kept) + "?" if len(kept) >= 1 and len(kept) < len(words) else ""


def _expand_contractions(q: str) -> str:
    out = q.replace("\u2019", "'")
    for short, long in _CONTRACTIONS.items():
        out = re.sub(rf"\b{re.escape(short)}\b", long, out, flags=re.IGNORECASE)
    return out if out != q.replace("\u2019", "'") else ""


# --- shape rules: each returns rewrites of one question shape (empty when it does not apply) --


def _how_do_i(q: str) -> list[str]:
    m = re.match(r"(?i)^how (?:do|can|could|should|would) (?:i|we|you|one) (.+)$", _body(q))
    if not m:
        m = re.match(r"(?i)^how to (.+)$", _body(q))
    if not m:
        return []
    x = m.group(1)
    return [
        f"How can I {x}?",
        f"What's the way to {x}?",
        f"I want to {x}",
        f"Is it possible to {x}?",
        f"how to {x}",
        f"What are the steps to {x}?",
        f"How do I {x}?",
    ]


def _can_i(q: str) -> list[str]:
    m = re.match(r"(?i)^(?:can|could|may) (?:i|we) (.+)$", _body(q))
    if not m:
        return []
    x = m.group(1)
    return [f"Is it possible to {x}?", f"Am I able to {x}?", f"How can I {x}?", f"can i {x}"]


def _why(q: str) -> list[str]:
    b = _body(q)
    m = re.match(r"(?i)^why (does|do|did) (.+)$", b)
    if m:
        # "Why does X happen" → "X happen, why?": how people type it, and the subject need not
        # be found (an inversion would have to know where the subject ends).
        x = m.group(2)
        out = [f"Why would {x}?", f"Explain: why {m.group(1)} {x}?"]
        # "the light not work, why?" garbles a negation; keep the form for plain statements.
        return out if re.search(r"\bnot\b", x) else [f"{_upper_first(x)}, why?", *out]
    m = re.match(r"(?i)^why (.+)$", b)
    if not m:
        return []
    return [f"Explain: why {m.group(1)}?", f"Why {m.group(1)}? Please explain."]


def _what_is(q: str) -> list[str]:
    b = _body(q)
    m = re.match(r"(?i)^what (is|are) (.+)$", b) or re.match(r"(?i)^what('s) (.+)$", b)
    if m and not re.match(r"(?i)^(the )?(reason|way|best way|difference)\b", m.group(2)):
        aux, x = m.group(1).replace("'s", "is"), m.group(2)
        return [f"Explain {x}.", f"Tell me about {x}.", f"{_upper_first(x)}?", f"what {aux} {x}"]
    m = re.match(r"(?i)^what does (.+) mean$", b)
    if m:
        x = m.group(1)
        return [f"What is meant by {x}?", f"Explain {x}.", f"{x} meaning?", f"define {x}"]
    return []


def _is_there(q: str) -> list[str]:
    m = re.match(r"(?i)^(?:is|are) there (.+)$", _body(q))
    if not m:
        return []
    x = m.group(1)
    return [f"Do you have {x}?", f"Where can I find {x}?", f"is there {x}", f"Does {x} exist?"]


def _where(q: str) -> list[str]:
    m = re.match(r"(?i)^where (?:do|does|is|are|can) (.+)$", _body(q))
    if not m:
        return []
    return [f"Where exactly {m.group(0)[6:]}?"]


def _statement(q: str) -> list[str]:
    """A symptom or request written as a statement: "My light won't turn on."."""
    b = _body(q)
    first = b.split(" ", 1)[0].lower()
    if q.strip().endswith("?") or len(b.split()) < 3 or first in _QUESTION_WORDS:
        return []
    x = _lower_first(b)
    return [
        f"{b}. What should I do?",
        f"What should I do if {x}?",
        f"{b}, how do I fix that?",
        f"Help: {x}",
    ]


_SHAPES: list[Rule] = [_how_do_i, _can_i, _why, _what_is, _is_there, _where, _statement]


def _generic(q: str) -> list[str]:
    """Shapes that fit any question: polite wrappers and expanded contractions."""
    b = _body(q)
    out = [f"Quick question: {_lower_first(b)}?", f"Can you tell me: {_lower_first(b)}?"]
    # "haven't you" → "have not you" is wrong: expand only in statements, not inverted questions.
    expanded = "" if b.split(" ", 1)[0].lower() in _QUESTION_WORDS else _expand_contractions(q)
    if expanded:
        out.insert(0, expanded)
    return out


def paraphrases(question: str, n: int = DEFAULT_VARIANTS) -> list[str]:
    """Up to ``n`` rewordings of ``question``, different from it and from each other.

    The mix interleaves a structural rewrite, a casual lower-case form and a keyword form before
    repeating a kind, because the eval's reworded questions are of all three kinds. Which
    rewrite of a kind comes first rotates with a hash of the question, so a dataset does not
    teach one template ("How can I ...") hundreds of times.
    """
    if n <= 0 or len(_body(question).split()) < 2:
        return []
    structural = [p for rule in _SHAPES for p in rule(question)]
    rot = int(hashlib.sha256(question.encode()).hexdigest()[:6], 16)
    if structural:
        k = rot % len(structural)
        structural = structural[k:] + structural[:k]
    # Every other structural rewrite is given in its casual (lower case) form.
    formal = structural[0::2]
    casual_forms = [casual(p) for p in structural[1::2]] or [casual(question)]
    generic = _generic(question)
    generic = generic[rot % len(generic) :] + generic[: rot % len(generic)]
    kinds = [formal, casual_forms, [keywords(question)], generic]
    ordered: list[str] = []
    for i in range(max(len(k) for k in kinds)):
        ordered += [k[i] for k in kinds if i < len(k)]
    out: list[str] = []
    seen = {question.strip()}
    for p in ordered:
        p = re.sub(r"\s+", " ", p).strip()
        if p and p not in seen and len(p) >= 3:
            seen.add(p)
            out.append(p)
        if len(out) >= n:
            break
    return out
