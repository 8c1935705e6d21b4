"""Semantic paraphrases of a question, offline: other words and other sentence forms.

The rule-based rewrites in ``paraphrase.py`` keep the FAQ's own words (lower case, stop-words
dropped, "Can you tell me: ..."), so a model trained on them learns the FAQ's wording rather
than the question behind it. Customers use other words ("get rid of" for "uninstall"), other
forms ("how come ..." for "why does ..."), symptoms ("I can't figure out how to ..."), the
terse and the chatty register, and typos. Each paraphrase here combines a sentence form with,
where WordNet has one, a synonym or a more general word for one content word, and a register.

Grounding: the terms that tie a question to its answer stay as they are (names, code, numbers,
words WordNet does not know, such as product names), every candidate must keep them, and no
candidate may carry four words in a row from the answer that the question did not have (that
would teach the model to answer only when the answer is quoted back). Deterministic: the same
question and answer always give the same paraphrases.
"""

from __future__ import annotations

import hashlib
import re

from assistant_builder.dataset import paraphrase as rules
from assistant_builder.dataset.wordnet import WordNet

# Words never replaced: grammar, question words and vague verbs whose WordNet senses are
# mostly wrong in a support question ("get" → "acquire", "make" → "construct").
_KEEP = rules.STOPWORDS | frozenset(
    [
        "get",
        "got",
        "make",
        "made",
        "go",
        "use",
        "need",
        "want",
        "like",
        "know",
        "way",
        "thing",
        "things",
        "work",
        "works",
        "one",
        "lot",
        "not",
        "no",
        "yes",
        "all",
        "more",
        "most",
        "many",
        "much",
        "other",
        "same",
        "new",
        "old",
    ]
)
_VERB_AFTER = frozenset(
    [
        "to",
        "i",
        "we",
        "you",
        "they",
        "can",
        "could",
        "should",
        "would",
        "will",
        "won't",
        "can't",
        "cannot",
        "don't",
        "doesn't",
        "do",
        "does",
        "did",
        "please",
        "must",
        "may",
        "might",
    ]
)
_NOUN_AFTER = frozenset(
    ["a", "an", "the", "my", "your", "our", "their", "this", "that", "these", "those", "of"]
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
LEAK_WORDS = 4  # a run this long copied from the answer is a leak


def _h(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def _content(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text) if w.lower() not in rules.STOPWORDS]


def key_terms(question: str, wn: WordNet | None) -> list[str]:
    """Terms a paraphrase must keep: code, names, numbers and words WordNet does not know."""
    out = [m.strip("`") for m in re.findall(r"`[^`]+`", question)]
    body = re.sub(r"`[^`]+`", " ", question)
    for i, tok in enumerate(body.split()):
        w = tok.strip("?.,!:;()\"'")
        if not w or w.lower() in rules.STOPWORDS:
            continue
        low = w.lower()
        # "Homebrew" mid-sentence, "macOS", "iPhone": names, kept as written.
        is_name = (i > 0 and w[:1].isupper() and w != "I") or any(c.isupper() for c in w[1:])
        unknown = wn is not None and _WORD.fullmatch(w) is not None and not _known(wn, low)
        if any(c.isdigit() for c in w) or is_name or unknown or not _WORD.fullmatch(w):
            out.append(w)
    return out


def _known(wn: WordNet, word: str) -> bool:
    return any(wn.base_form(word, p) for p in ("n", "v", "a", "r"))


def _pos_guess(word: str, prev: str, nxt: str, wn: WordNet) -> tuple[str, ...]:
    """Parts of speech to try for a word: the one its neighbours make certain ("to X", "I X" →
    verb; "my X?" → noun), else the only one WordNet has for it. A word that can be a noun or
    a verb in a position that does not decide ("Homebrew update more...") is not replaced."""
    if prev in _VERB_AFTER or prev == "":
        return ("v",)
    if prev in _NOUN_AFTER and (not nxt or nxt in rules.STOPWORDS):
        return ("n",)
    found = tuple(p for p in ("n", "v", "a") if wn.base_form(word, p))
    return found if len(found) == 1 else ()


def _shared_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _plural(phrase: str) -> str:
    head, _, last = phrase.rpartition(" ")
    if re.search(r"(s|x|z|ch|sh)$", last):
        last += "es"
    elif re.search(r"[^aeiou]y$", last):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}".strip()


def alternatives(word: str, prev: str, nxt: str, wn: WordNet) -> list[tuple[str, str]]:
    """(replacement, 'synonym'|'hypernym') for one word in its most frequent sense, keeping its
    inflection (a plural noun gets a plural; inflected verbs and adjectives are left alone).

    Most words have several senses and nothing here knows which one the question means, so a
    replacement must mean the same in *its own* most frequent sense ("halt" for "stop" passes;
    "bid" for "command" and "absence" for "default" do not). A hypernym is used only for a word
    with a single sense, where the sense is certain."""
    low = word.lower()
    for pos in _pos_guess(low, prev, nxt, wn):
        base = wn.base_form(low, pos)
        if base is None:
            continue
        plural = pos == "n" and base != low
        if pos != "n" and base != low:
            return []  # "updating": re-inflecting a synonym would garble it
        senses = wn.senses(base, pos)
        if not senses:
            continue
        first = senses[0]
        out = [(lem, "synonym") for lem in first.lemmas if lem.lower() != base]
        if pos == "n" and len(senses) == 1 and first.hypernyms:
            out += [(lem, "hypernym") for lem in wn.synset(*first.hypernyms[0]).lemmas[:2]]
        good = []
        for rep, kind in out:
            own = wn.senses(rep, pos)
            target = first if kind == "synonym" else wn.synset(*first.hypernyms[0])
            # "instal", "installing", "caskful": spellings and derivations of the same word.
            variant = _shared_prefix(rep.lower(), base) >= min(5, len(base) - 1)
            if variant or not rep.isascii() or len(rep.split()) > 2:
                continue
            if own and own[0].offset == target.offset:
                good.append((_plural(rep) if plural else rep, kind))
        return [(r, k) for r, k in good if r.lower() != low and not r[:1].isupper()]
    return []


def substitutions(question: str, wn: WordNet | None) -> list[tuple[str, str, str]]:
    """(word, replacement, kind) candidates for the question's replaceable words, one or two
    per word, in an order rotated by the question so datasets do not favour one word."""
    if wn is None:
        return []
    keep = {k.lower() for k in key_terms(question, wn)}
    body = re.sub(r"`[^`]+`", " ", question)
    words = _WORD.findall(body)
    found: list[tuple[str, str, str]] = []
    for i, w in enumerate(words):
        low = w.lower()
        if low in _KEEP or low in keep or len(low) < 3 or (i > 0 and w[:1].isupper()):
            continue
        prev = words[i - 1].lower() if i > 0 else ""
        nxt = words[i + 1].lower() if i + 1 < len(words) else ""
        for rep, kind in alternatives(w, prev, nxt, wn)[:2]:
            found.append((w, rep, kind))
    if found:
        k = _h(question) % len(found)
        found = found[k:] + found[:k]
    return found


def _replace(text: str, word: str, rep: str) -> str:
    def sub(m: re.Match[str]) -> str:
        return rep[:1].upper() + rep[1:] if m.group(0)[:1].isupper() else rep

    return re.sub(rf"(?<![\w`-]){re.escape(word)}(?![\w`-])", sub, text, count=1)


# -- sentence forms and registers ---------------------------------------------------------------


def forms(question: str) -> list[tuple[str, str]]:
    """(rewrite, kind) in the forms customers use: 'how come' for 'why', symptom statements."""
    b = rules._body(question)
    out: list[tuple[str, str]] = []
    m = re.match(r"(?i)^why (can't|cannot|won't|don't|doesn't|isn't|aren't) (i|we|you|it) (.+)$", b)
    if m:
        out.append((f"How come {m.group(2)} {m.group(1)} {m.group(3)}?", "how-come"))
    m = re.match(r"(?i)^why (do|does|did) (i|we|you|it|they|my \S+|the \S+) (\S+)(.*)$", b)
    if m:
        subj, verb, rest = m.group(2), m.group(3), m.group(4)
        third = m.group(1).lower() == "does" and not verb.endswith("s")
        verb = (verb + "s") if third else verb
        out.append((f"How come {subj} {verb}{rest}?", "how-come"))
    m = re.match(r"(?i)^why (is|are|was|were) (.+)$", b)
    if m:
        out.append((f"What's the reason {m.group(1)} {m.group(2)}?", "reason"))
    m = re.match(r"(?i)^how (?:do|can|could|should) (?:i|we|you) (.+)$", b)
    if m:
        x = m.group(1)
        out += [
            (f"I can't figure out how to {x}", "symptom"),
            (f"I'm trying to {x} but I don't know how", "symptom"),
            (f"Any way to {x}?", "terse"),
        ]
    m = re.match(r"(?i)^(?:can|could|may) (?:i|we) (.+)$", b)
    if m:
        out.append((f"I'd like to {m.group(1)}, is that possible?", "symptom"))
    m = re.match(r"(?i)^what (?:is|are) (.+)$", b)
    if m and len(m.group(1).split()) <= 6:
        out.append((f"{m.group(1)}: what does that mean?", "terse"))
    return out


_CHATTY = (
    "Hi, quick question: {q}",
    "Hello! I was wondering: {q} Thanks!",
    "hey, sorry if this is obvious, but {q}",
    "Hi there, {q} Thanks in advance.",
)


def chatty(q: str, seed: int) -> str:
    q = q if q.rstrip().endswith(("?", ".")) else q.rstrip() + "?"
    return _CHATTY[seed % len(_CHATTY)].format(q=rules._lower_first(q))


def typo(q: str, keep: list[str], seed: int) -> str:
    """One slip of the keyboard (two letters swapped) in a long word that is not a key term,
    typed casually. '' when no word qualifies."""
    kept = {k.lower() for k in keep}
    words = q.split()
    idx = [
        i
        for i, w in enumerate(words)
        if len(w) >= 6 and w.isalpha() and w.lower() not in kept and w.lower() not in _KEEP
    ]
    if not idx:
        return ""
    i = idx[seed % len(idx)]
    w = words[i]
    j = 1 + seed % (len(w) - 3)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return rules.casual(" ".join(words))


# -- grounding ---------------------------------------------------------------------------------


def problem(candidate: str, question: str, answer: str, keep: list[str]) -> str:
    """Why a candidate is not a faithful question for this answer ('' when it is)."""
    low = candidate.lower()
    missing = [k for k in keep if k.lower() not in low]
    if missing:
        return f"drops the key term {missing[0]!r}"
    cw, qw = _WORD.findall(low), set(_WORD.findall(question.lower()))
    aw = " ".join(_WORD.findall(answer.lower()))
    for i in range(len(cw) - LEAK_WORDS + 1):
        gram = cw[i : i + LEAK_WORDS]
        if not set(gram) <= qw and f" {' '.join(gram)} " in f" {aw} ":
            return f"quotes the answer ({' '.join(gram)!r})"
    return ""


def semantic_paraphrases(
    question: str, answer: str, n: int, wn: WordNet | None
) -> list[tuple[str, str]]:
    """Up to ``n`` (paraphrase, how it was made) for one question: a sentence form (or a rule
    rewrite) with a WordNet synonym or hypernym for one content word, in a register (plain,
    chatty, or casual with a typo), each checked by ``problem``. ``how`` joins the steps, e.g.
    'wordnet-synonym+symptom+chatty'."""
    if n <= 0 or len(rules._body(question).split()) < 2:
        return []
    seed = _h(question)
    keep = key_terms(question, wn)
    shapes = forms(question) + [(p, "rules") for p in rules.paraphrases(question, 8)]
    k = seed % len(shapes) if shapes else 0
    shapes = (shapes[k:] + shapes[:k]) or [(question, "original")]
    subs = substitutions(question, wn)
    out: list[tuple[str, str]] = []
    seen = {question.strip().lower()}
    for i in range(n * 4):
        if len(out) >= n:
            break
        text, how = shapes[i % len(shapes)]
        steps = [how] if how != "original" else []
        for word, rep, kind in subs[i % len(subs) :] + subs[: i % len(subs)] if subs else []:
            new = _replace(text, word, rep)
            if new != text:
                text, steps = new, [f"wordnet-{kind}", *steps]
                break
        register = (len(out) + seed) % 3
        if register == 1:
            text, steps = chatty(text, seed + i), [*steps, "chatty"]
        elif register == 2:
            typed = typo(text, keep, seed + i)
            text, steps = (typed, [*steps, "typo"]) if typed else (rules.casual(text), steps)
        text = re.sub(r"\s+", " ", text).strip()
        if text.lower() in seen or not text or problem(text, question, answer, keep):
            continue
        seen.add(text.lower())
        out.append((text, "+".join(steps) or "rules"))
    return out
