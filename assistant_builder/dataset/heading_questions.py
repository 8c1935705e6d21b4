"""Question generation for prose sections (files without Q/A structure), and its grounding check.

Strategies:

- ``template``: offline and deterministic, from the section's heading. Headings in real guides
  are tasks ("Install previous versions of formulae"), gerunds ("Restoring an installation"),
  symptoms ("A cask download fails", "Missing Command Line Tools"), error messages in code,
  or topics ("macOS requirements"); each kind gets the question a user would ask about it.
- ``model``: the local base model reads the section and writes questions (see
  :mod:`assistant_builder.dataset.questions`).
- ``teacher``: any OpenAI-compatible endpoint does the same
  (:mod:`assistant_builder.dataset.teacher`).

Whatever wrote them, generated pairs pass :func:`grounding_problem` before they are kept: the
answer must be the section text (or a span of it) and the question must be about words that the
section actually contains. A weak generator then costs examples, never correctness.
"""

from __future__ import annotations

import re

from assistant_builder.dataset.paraphrase import STOPWORDS

MAX_ANSWER_CHARS = 1500
MIN_SECTION_CHARS = 40
STRATEGIES = ("template", "model", "teacher")

_QUESTION_START = re.compile(
    r"^(how|what|why|when|where|which|who|can|could|do|does|is|are|should|will|may)\b", re.I
)
# Base forms of the verbs that open task headings in help documents.
_VERB_TEXT = (
    "access activate add adjust adopt allow apply archive assign avoid back build buy cache "
    "cancel change charge check choose clean clear close collect combine commit compile "
    "configure connect contact contribute convert copy create customize debug define delete "
    "deploy diagnose disable download downgrade edit enable export extend find fix get hide "
    "import improve install keep link list load lock log make manage merge migrate mirror "
    "move open order pair pay pin prepare preview print protect publish read receive recover "
    "register reinstall remove rename repair replace report request reset restart restore "
    "return revert run save scan search select send set share show sign skip speed start stop "
    "submit subscribe switch sync tap test track transfer troubleshoot turn uninstall unlink "
    "unpin unsubscribe update upgrade upload use verify view write"
)
VERBS = frozenset(_VERB_TEXT.split())
_DOUBLED = {"run", "set", "get", "stop", "pin", "unpin", "log", "submit", "skip", "tap", "reset"}
_ADVERBS = {"quickly", "easily", "safely", "automatically", "manually", "properly", "correctly"}
_TOPIC_NOUNS = {
    "requirements", "options", "settings", "rules", "rates", "limits", "methods", "details",
    "instructions", "guidelines", "policy", "overview", "basics", "information", "tips",
    "steps", "errors", "issues", "problems", "status", "modes", "times", "costs", "fees",
}  # fmt: skip
_PREPOSITIONS = {"after", "before", "when", "if", "during", "while", "without", "with", "on"}
# A heading with one of these is a clause about a problem ("A cask download fails").
_FINITE = re.compile(
    r"\b(fails?|failed|doesn't|don't|won't|can't|cannot|isn't|aren't|not|prevents?|stops?|"
    r"stopped|crash(?:es|ed)?|hangs|freezes|is|are|was|were)\b",
    re.I,
)
_PROBLEM = re.compile(
    r"\b(missing|denied|failures?|errors?|broken|stuck|slow|invalid|mismatch|wrong|warnings?|"
    r"problems?|conflicts?|unable|timeouts?)\b",
    re.I,
)


def _gerund(verb: str) -> str:
    if verb in _DOUBLED:
        return verb + verb[-1] + "ing"
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    return verb + "ing"


_GERUNDS = {_gerund(v): v for v in VERBS}


def _clean_heading(h: str) -> str:
    return re.sub(r"\s+", " ", h).strip().rstrip(":.")


def _lower_first(h: str, text: str) -> str:
    """Headings capitalise for layout; a question does not. Lower-case the first word (every
    word of a Title Case heading) unless it is a name: a name is a word the section also
    capitalises in mid-sentence ("a Git configuration", "on Linux")."""
    words = h.split(" ")
    long = [w for w in words if len(w) > 3 and w[:1].isalpha()]
    title = len(long) > 1 and all(w[:1].isupper() for w in long)
    for i, w in enumerate(words):
        if i > 0 and not title:
            break
        core = w.strip("\"'(),:;")
        if not core[:1].isupper() or core[1:] != core[1:].lower() or core in ("I", "O"):
            continue  # lower already, an acronym ("CLT") or a brand written "macOS"/"iPhone"
        if re.search(rf"[a-z,;]\s+{re.escape(core)}\b", text):
            continue
        if i > 0 and not re.search(rf"\b{re.escape(core.lower())}\b", text):
            continue  # Title Case: only words the section itself writes in lower case
        words[i] = w.replace(core, core[:1].lower() + core[1:], 1)
    first_two = " ".join(h.split(" ")[:2])
    if title and words[0] != h.split(" ")[0] and first_two in text:
        words[0] = h.split(" ")[0]  # "Visual Studio Code": the text writes the name so
    return " ".join(words)


def heading_kind(h: str) -> str:
    """question | code | task | gerund | symptom_clause | symptom | situation | topic"""
    words = h.replace("`", "").split()
    if not words:
        return "topic"
    first = words[0].lower()
    if h.endswith("?") or _QUESTION_START.match(h):
        return "question"
    if h.startswith("`") and h.endswith("`") and h.count("`") == 2:
        return "code"
    if first in _ADVERBS and len(words) > 1:
        first = words[1].lower()
    base = first.split("-")[-1]  # "Pre-download" → "download"
    if base in VERBS:
        return "task"
    if (first in _GERUNDS or base in _GERUNDS) and words[-1].lower() not in _TOPIC_NOUNS:
        return "gerund"  # "Pairing requirements" is a topic, "Pairing a phone" a task
    if first in _PREPOSITIONS:
        return "situation"
    if _FINITE.search(h.replace("`", "")):
        return "symptom_clause"
    if _PROBLEM.search(h):
        return "symptom"
    return "topic"


def template_questions(heading_path: list[str], text: str = "") -> list[str]:
    """One natural question for a heading, and an alternative phrasing when one reads well.

    'Restoring an installation' → 'How do I restore an installation?';
    'A cask download fails' → 'What should I do if a cask download fails?';
    'macOS requirements' → 'What are the macOS requirements?'.
    """
    if not heading_path:
        return []
    h = _clean_heading(heading_path[-1])
    if not h or not re.search(r"\w", h):
        return []
    kind = heading_kind(h)
    x = _lower_first(h, text)
    parent = _clean_heading(heading_path[-2]) if len(heading_path) > 2 else ""
    if kind == "question":
        return [h if h.endswith("?") else h + "?"]
    if kind == "code":
        code = h.strip("`")
        return [f'How do I fix the error "{code}"?', f'What does "{code}" mean?']
    if kind == "task":
        return [f"How do I {x}?", f"What's the best way to {x}?"]
    if kind == "gerund":
        words = x.split(" ")
        head = words[0].lower()
        pre, _, g = head.rpartition("-")
        verb = (pre + "-" if pre else "") + _GERUNDS.get(g, g)
        x = " ".join([verb, *words[1:]])
        return [f"How do I {x}?", f"What's the best way to {x}?"]
    if kind == "situation":
        return [f"What should I do {x}?", f"What do I need to know {x}?"]
    if kind == "symptom_clause":
        return [f"What should I do if {x}?", f"{h}. How do I fix it?"]
    if kind == "symptom":
        return [f"How do I fix {x}?", f"What should I do about {x}?"]
    last = x.replace("`", "").split(" ")[-1].lower()
    if last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(x.split()) > 1:
        qs = [f"What are the {x}?", f"Tell me about the {x}."]
    elif last.endswith(("tion", "ing", "ment")):
        qs = [f"How does {x} work?", f"What should I know about {x}?"]
    else:
        qs = [f"What should I know about {x}?", f"Tell me about {x}."]
    if parent and len(h.split()) <= 2:
        # "Vim" alone says little; "Vim (editor plugins)" says what the section is about.
        qs.append(f"What should I know about {x} ({_lower_first(parent, text)})?")
    return qs


def section_answer(text: str) -> str:
    """The section text as an answer: cut at a paragraph break when it is very long."""
    text = text.strip()
    if len(text) > MAX_ANSWER_CHARS:
        cut = text[:MAX_ANSWER_CHARS]
        text = cut[: cut.rfind("\n\n")] if "\n\n" in cut else cut
    return text.strip()


# --- grounding -----------------------------------------------------------------------------

# Words any question about anything may use: they say nothing about the section's content.
_GENERIC = STOPWORDS | {
    "fix", "know", "tell", "explain", "way", "best", "steps", "need", "want", "use", "work",
    "works", "mean", "means", "meant", "possible", "able", "happen", "happens", "thing",
    "things", "reason", "help", "question", "quick", "ok", "okay", "like", "about", "exactly",
    "should", "vs", "etc",
}  # fmt: skip


def _stem(w: str) -> str:
    # A crude stem: "installation"/"installing" and "failures"/"failed" meet at 5 letters.
    return w[:5] if len(w) > 5 else re.sub(r"(?:es|s|ed)$", "", w) if len(w) > 3 else w


def content_words(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9][a-z0-9_+.#-]*", text.lower().replace("\u2019", "'"))
    return {_stem(w.strip(".-")) for w in words if w.strip(".-") not in _GENERIC}


def _squash(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def grounding_problem(question: str, answer: str, section_text: str, heading: str = "") -> str:
    """Why a generated pair is not supported by its section ('' when it is).

    The answer must be the section text or a contiguous span of it; at least half of the
    question's content words (and at least one) must occur in the section or its heading.
    """
    if not answer.strip():
        return "empty answer"
    if _squash(answer) not in _squash(section_text):
        return "answer is not a span of the section text"
    q_words = content_words(question)
    if not q_words:
        return "question has no content words"
    known = content_words(section_text + " " + heading)
    hits = len(q_words & known)
    if hits * 2 < len(q_words):
        missing = sorted(q_words - known)[:4]
        return f"question words not in the section: {', '.join(missing)}"
    return ""


def is_usable_question(line: str) -> bool:
    """Model output lines that can be questions: not too short or long, and asking."""
    return 8 <= len(line) <= 200 and (line.endswith("?") or bool(_QUESTION_START.match(line)))


def parse_generated(text: str, questions_only: bool = True) -> list[str]:
    """Questions from free model output: one per line, numbering/bullets/quotes removed.
    Robust to chatter ("Sure! Here are ...") and to several questions run together. With
    ``questions_only`` false (paraphrases, which may be casual: "brew pin how"), any line of
    a sensible length is kept except the chatter that introduces a list."""
    out: list[str] = []
    for raw in re.split(r"\n|(?<=\?)\s+(?=\S)", text):
        line = re.sub(r"^\s*(?:[-*•]|\(?\d{1,2}[.):]|Q\d*[:.]|Question\s*\d*[:.])\s*", "", raw)
        line = _squash(line.strip().strip("\"'“”`*"))
        if questions_only:
            ok = is_usable_question(line)
            line = line[:1].upper() + line[1:]
        else:
            ok = 3 <= len(line) <= 200 and not line.endswith(":")
        if ok and line not in out:
            out.append(line)
    return out
