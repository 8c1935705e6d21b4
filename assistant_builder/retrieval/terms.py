"""What of a passage is searched, and which words of a question stand for which.

A customer rarely uses the FAQ's own words; these widen what counts as the same word without
reaching for anything outside the workspace:

- ``variants``: the other phrasings of a question that the source itself lists (QnA Maker and
  QnABot exports give several per answer);
- ``phrasings``: the dataset's phrasings of the answer's question (its paraphrases);
- ``title_weight``: the entry's question counted more than its answer, as a customer's words
  are closer to a question than to an answer;
- ``acronyms``: an abbreviation in the question ("PR", "OS") stands for the words of the
  material whose initials it spells ("pull request"), mined from the material itself;
- ``synonyms``: a question's word is found when one of its WordNet synonyms is.

Each is measured in benchmarks/README.md ("Retrieval"), on five FAQs and 60 off-topic probes
(benchmarks/retrieval_match.py): the source's variants find the entry for the phrasings a team
wrote; the dataset's phrasings and WordNet synonyms lost right entries and let more off-topic
questions over the bar, so they are off by default.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from itertools import pairwise
from typing import Any

ACRONYM = re.compile(r"\b[A-Za-z]{2,5}s?\b")


@dataclass
class IndexOptions:
    """What the index searches besides each entry's question and answer. The defaults are
    what held up on all five measured FAQs; the others lost right entries or let off-topic
    questions over the bar (benchmarks/README.md, "Retrieval")."""

    title_weight: int = 1
    variants: bool = True
    phrasings: bool = False
    acronyms: bool = True
    synonyms: bool = False  # WordNet synonyms of the question's words

    @classmethod
    def none(cls) -> IndexOptions:
        """The index before these options: the title and the body, nothing else."""
        return cls(title_weight=1, variants=False, phrasings=False, acronyms=False,
                   synonyms=False)  # fmt: skip

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> IndexOptions:
        """An index's own options (one built before they existed: ``none``)."""
        saved = meta.get("options")
        if not isinstance(saved, dict):
            return cls.none()
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in known})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def search_text(title: str, body: str, variants: list[str], phrasings: list[str],
                opts: IndexOptions) -> str:  # fmt: skip
    """The text BM25 indexes for a passage and coverage looks words up in."""
    parts = [title] * max(1, opts.title_weight) if title else []
    if opts.variants:
        parts += variants
    if opts.phrasings:
        parts += phrasings
    return "\n".join([*parts, body])


def mine_acronyms(
    token_lists: list[list[str]], vocab: set[str], skip: set[str]
) -> dict[str, list[str]]:
    """Initials of the material's frequent word pairs and triples → those words (stemmed
    tokens), for abbreviations the material does not use itself: "pr" → ["pull", "request"]
    when "pull request" occurs at least twice and "pr" never does. Phrases with a ``skip``
    word (conversational words) spell nothing; an abbreviation that two phrases spell equally
    often is left out: it says nothing."""
    counts: Counter[tuple[str, ...]] = Counter()
    for toks in token_lists:
        counts.update(pairwise(toks))
        counts.update(zip(toks, toks[1:], toks[2:], strict=False))
    best: dict[str, tuple[int, tuple[str, ...] | None]] = {}
    for gram, c in counts.items():
        if c < 2 or not all(t.isalpha() and t not in skip for t in gram):
            continue
        abbr = "".join(t[0] for t in gram)
        if abbr in vocab:
            continue
        seen = best.get(abbr)
        if seen is None or c > seen[0]:
            best[abbr] = (c, gram)
        elif c == seen[0] and gram != seen[1]:
            best[abbr] = (c, None)  # a tie: ambiguous
    return {a: list(g) for a, (_, g) in best.items() if g is not None}


_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.DOTALL)


def without_code(text: str) -> str:
    """``text`` without its code (fenced blocks, inline spans): a command such as
    `gh pr checkout` does not make "pr" a word the material uses for something else, so it
    does not stop "PR" from standing for the material's "pull request"."""
    return _CODE.sub(" ", text)


def typed_abbreviations(query: str) -> set[str]:
    """The words a person wrote as an abbreviation: two to five capitals ("PR", "PRs",
    "iOS" is not one: it is a name)."""
    out = set()
    for m in ACRONYM.finditer(query):
        w = m.group(0)
        core = w[:-1] if w.endswith("s") and len(w) > 2 else w
        if core.isupper():
            out.add(core.lower())
    return out


WORD = re.compile(r"(?u)\b\w\w+\b")


@lru_cache(maxsize=8192)
def synonym_stems(word: str, senses: int = 2) -> frozenset[str]:
    """Stems of the one-word WordNet synonyms of ``word``'s most frequent senses (nouns,
    verbs, adjectives): "price" → cost, "image" → picture. Empty without WordNet."""
    from assistant_builder.dataset.wordnet import load

    wn, _ = load()
    if wn is None:
        return frozenset()
    import Stemmer

    stem = Stemmer.Stemmer("english").stemWord
    out: set[str] = set()
    for pos in "nva":
        base = wn.base_form(word, pos)
        if base is None:
            continue
        for synset in wn.senses(base, pos)[:senses]:
            out |= {stem(lemma.lower()) for lemma in synset.lemmas if lemma.isalpha()}
    return frozenset(out)
