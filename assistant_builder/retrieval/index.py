"""The retrieval index: every Q/A pair and prose section of the workspace as a passage with its
provenance, searched with BM25 (bm25s, English stop words, Snowball stemming).

Built by the Dataset stage into ``dataset/index/`` (``passages.jsonl``, ``meta.json`` and bm25s's
own files); a training run keeps a copy in ``runs/<id>/index/``. The index records the content
hashes of the sources it was built from, so a re-ingested, changed file makes it *stale*: it
still answers, with a notice saying to rebuild the dataset.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError
from assistant_builder.retrieval.terms import (
    WORD,
    IndexOptions,
    mine_acronyms,
    search_text,
    synonym_stems,
    typed_abbreviations,
    without_code,
)
from assistant_builder.workspace import (
    Workspace,
    atomic_write_json,
    atomic_write_jsonl,
    read_jsonl,
)

INDEX_DIR = "index"
FORMAT_VERSION = 1


@dataclass
class Passage:
    """One retrievable piece of the workspace's material. ``group`` is the dataset's answer
    group of the same text, so a training row knows which passage holds its answer."""

    id: int
    title: str  # the FAQ question or the section's heading path
    body: str  # the answer or the section text
    group: str
    kind: str  # "pair" or "section"
    source: str | None = None
    line_start: int | None = None
    line_end: int | None = None
    page: int | None = None
    url: str | None = None
    # Other phrasings of the title: the source's own (QnA exports list several per answer) and
    # the dataset's (its paraphrases). Searched and counted by coverage; never shown.
    variants: list[str] = field(default_factory=list)
    phrasings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """What the model reads."""
        return f"{self.title}\n{self.body}" if self.title else self.body

    def where(self) -> str:
        """Provenance for people: a URL, or file:lines, or file page N."""
        if self.url:
            return self.url
        where = self.source or "?"
        if self.line_start is not None:
            end = self.line_end if self.line_end not in (None, self.line_start) else None
            where += f":{self.line_start}" + (f"-{end}" if end else "")
        elif self.page is not None:
            where += f" page {self.page}"
        return where

    def source_json(self) -> dict[str, Any]:
        skip = ("body", "group", "variants", "phrasings")
        d = {k: v for k, v in asdict(self).items() if k not in skip and v is not None}
        d["where"] = self.where()
        return d


@dataclass
class Hit:
    passage: Passage
    score: float


@dataclass
class SearchResult:
    hits: list[Hit]
    notices: list[str] = field(default_factory=list)


def answer_group(text: str) -> str:
    """The dataset's answer-group key (dataset.build._group) for the same text."""
    return hashlib.sha256(text.strip().encode()).hexdigest()[:12]


def passages_from_items(items: list[dict[str, Any]]) -> list[Passage]:
    """Pairs and sections as passages, cleaned the way the dataset cleans its answers, so the
    group keys match the training rows'."""
    from assistant_builder.dataset.heading_questions import MIN_SECTION_CHARS, section_answer
    from assistant_builder.sources.parsers.cleanup import unwrap_paragraphs

    out: list[Passage] = []
    for item in items:
        if item.get("kind") == "pair":
            title = " ".join(str(item.get("question", "")).split())
            body = unwrap_paragraphs(item.get("answer", "")).strip()
            group_text = body
        elif item.get("kind") == "section":
            title = " / ".join(item.get("heading_path") or [])
            group_text = section_answer(unwrap_paragraphs(item.get("text", "")))
            # The whole section is searched and shown; its group is the dataset's (cut) answer.
            body = unwrap_paragraphs(item.get("text", "")).strip()
            if len(group_text) < MIN_SECTION_CHARS:
                continue
        else:
            continue
        if not body:
            continue
        extra = item.get("extra") or {}
        out.append(
            Passage(
                id=len(out),
                title=title,
                body=body,
                group=answer_group(group_text),
                kind=item["kind"],
                source=item.get("source"),
                line_start=item.get("line_start"),
                line_end=item.get("line_end"),
                page=item.get("page"),
                url=extra.get("url") if isinstance(extra, dict) else None,
                variants=[" ".join(str(v).split()) for v in item.get("variants") or []],
            )
        )
    return out


# Words of how people ask, not of what they ask about: a workspace that never uses "why" or
# "please" must not make a question about its own subject look off-topic. (bm25s's English stop
# words are the function words; these are the conversational ones.)
FILLER = (
    "why how what when where which who whose can could would should will shall may might must "
    "won't wont can't cannot don't doesn't didn't isn't aren't wasn't ain't i'm i've it's "
    "hi hello hey thanks thank please sorry quick question help tell know explain anyone "
    "someone somebody something anything way get got getting let lets use using used want "
    "wanted need needs make makes like just really also still even ever under over "
    "thing things stuff anymore again already there here now ok okay guys"
)


def _filler() -> set[str]:
    global _FILLER_STEMS
    if _FILLER_STEMS is None:
        _FILLER_STEMS = set(tokenize([FILLER])[0])
    return _FILLER_STEMS


_FILLER_STEMS: set[str] | None = None


def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-case words without English stop words, stemmed ("upgrading" finds "upgrade")."""
    import bm25s

    out: list[list[str]] = bm25s.tokenize(
        texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False
    )
    return out


class Index:
    """A loaded index: passages plus the BM25 retriever."""

    def __init__(self, folder: Path, passages: list[Passage], meta: dict[str, Any]) -> None:
        self._df: dict[str, int] | None = None
        self._terms: dict[int, set[str]] = {}
        self.folder = folder
        self.passages = passages
        self.meta = meta
        self.options = IndexOptions.from_meta(meta)
        # abbreviation → the words it stands for, mined from the material (terms.py)
        self.acronyms: dict[str, list[str]] = dict(meta.get("acronyms") or {})
        self._retriever: Any = None

    def searched_text(self, p: Passage) -> str:
        return search_text(p.title, p.body, p.variants, p.phrasings, self.options)

    @classmethod
    def build(
        cls,
        folder: Path,
        passages: list[Passage],
        sources: list[str],
        options: IndexOptions | None = None,
    ) -> Index:
        """Write a new index to ``folder`` (replacing the old one only once it is complete)."""
        import bm25s

        options = options or IndexOptions()
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        meta: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "passages": len(passages),
            "sources": sorted(sources),
            "options": options.to_json(),
        }
        retriever = None
        if passages:
            # Tokenized in parts (the same words as the joined search_text) so the material's
            # own words are tokenized once for the index and for mining abbreviations.
            titles = tokenize([p.title for p in passages])
            bodies = tokenize([p.body for p in passages])
            extra = tokenize([search_text("", "", p.variants, p.phrasings, options)
                              for p in passages])  # fmt: skip
            weight = max(1, options.title_weight)
            tokens = [t * weight + x + b for t, x, b in zip(titles, extra, bodies, strict=True)]
            if options.acronyms:
                # From the material's own words: generated phrasings repeat their templates.
                # An abbreviation the prose itself uses is not one; code does not count.
                prose = tokenize([without_code(f"{p.title}\n{p.body}") for p in passages])
                vocab = {t for toks in [*prose, *extra] for t in toks}
                own = [t + b for t, b in zip(titles, bodies, strict=True)]
                meta["acronyms"] = mine_acronyms(own, vocab, _filler())
            retriever = bm25s.BM25()
            retriever.index(tokens, show_progress=False)
            retriever.save(str(tmp / "bm25"))
        atomic_write_jsonl(tmp / "passages.jsonl", [asdict(p) for p in passages])
        atomic_write_json(tmp / "meta.json", meta)
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
        index = cls(folder, passages, meta)
        index._retriever = retriever
        return index

    @classmethod
    def load(cls, folder: Path) -> Index:
        meta_path = folder / "meta.json"
        if not meta_path.is_file():
            raise UserError(
                f"no retrieval index in {folder} (run `assistant-builder dataset` to build it)"
            )
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(f"{meta_path}: not valid JSON ({e.msg}); rebuild the dataset") from None
        passages = [Passage(**row) for row in read_jsonl(folder / "passages.jsonl")]
        return cls(folder, passages, meta)

    def _bm25(self) -> Any:
        if self._retriever is None and self.passages:
            import bm25s

            self._retriever = bm25s.BM25.load(str(self.folder / "bm25"))
        return self._retriever

    def query_words(self, query: str) -> list[tuple[str, list[str], frozenset[str]]]:
        """The query's words, each with the material's words it stands for when it is an
        abbreviation the material spells out ("pr" → pull, request) and its synonyms' stems
        (when the index's options use them)."""
        typed = typed_abbreviations(query)
        stems: dict[str, str] = {}
        if self.options.synonyms:
            import Stemmer

            stem = Stemmer.Stemmer("english").stemWord
            stems = {stem(w): w for w in WORD.findall(query.lower())}
        out = []
        for t in tokenize([query])[0]:
            core = t[:-1] if t.endswith("s") and t[:-1] in self.acronyms else t
            expand = self.acronyms.get(core) if core in typed else None
            syns = synonym_stems(stems[t]) - {t} if t in stems else frozenset()
            out.append((t, list(expand or []), syns))
        return out

    def search(self, query: str, k: int = 3) -> SearchResult:
        """The best ``k`` passages for ``query`` (fewer when fewer match any of its words)."""
        if not self.passages:
            return SearchResult([], ["the retrieval index is empty: answering without passages"])
        retriever = self._bm25()
        vocab = retriever.vocab_dict
        words = [
            w
            for t, expand, syns in self.query_words(query)
            for w in [t, *expand, *sorted(syns)]
            if w in vocab
        ]
        if not words:
            return SearchResult([], ["no passage shares a word with the question"])
        k = max(1, min(k, len(self.passages)))
        docs, scores = retriever.retrieve([words], k=k, show_progress=False)
        hits = [
            Hit(self.passages[int(d)], float(s))
            for d, s in zip(docs[0], scores[0], strict=True)
            if float(s) > 0
        ]
        return SearchResult(hits, [] if hits else ["no passage matches the question"])

    def _passage_terms(self, p: Passage) -> set[str]:
        if p.id not in self._terms:
            self._terms[p.id] = set(tokenize([self.searched_text(p)])[0])
        return self._terms[p.id]

    def coverage(self, query: str, passage: Passage) -> float:
        """The share of the query's weight that ``passage`` holds: the inverse document
        frequencies of the query's words found in the passage over those of all its words
        (an abbreviation is found when the words it stands for are).

        BM25 scores are not comparable between questions or workspaces; this is, and it is how
        an off-topic question that happens to share a common word with an entry ("how do I
        delete my Facebook account" against "how do I update my packages") is told from a
        reworded in-domain one: the words the workspace never uses weigh the most."""
        import math

        filler = _filler()
        words = {t: (x, syns) for t, x, syns in self.query_words(query) if t not in filler}
        if not words:
            return 0.0
        if self._df is None:
            df: dict[str, int] = {}
            for p in self.passages:
                for t in self._passage_terms(p):
                    df[t] = df.get(t, 0) + 1
            self._df = df
        n = len(self.passages)

        def idf(t: str) -> float:
            d = self._df.get(t, 0) if self._df else 0
            return math.log((n - d + 0.5) / (d + 0.5) + 1)

        found = self._passage_terms(passage)
        total = sum(idf(t) for t in words)
        held = sum(
            idf(t)
            for t, (expand, syns) in words.items()
            if t in found or (expand and all(w in found for w in expand)) or syns & found
        )
        return held / total if total else 0.0

    def stale_notice(self, ws: Workspace) -> str | None:
        """Why the index no longer matches the workspace's sources, or None."""
        from assistant_builder.sources.ingest import load_index

        current = sorted(e["sha256"] for e in load_index(ws)["files"].values())
        if current != self.meta.get("sources"):
            return (
                "the retrieval index is stale: sources changed since it was built "
                "(run `assistant-builder dataset` to rebuild it)"
            )
        return None


def build_workspace_index(
    ws: Workspace,
    items: list[dict[str, Any]],
    redactor: Any = None,
    conversations: list[dict[str, Any]] | None = None,
) -> Index:
    """(Re)build ``dataset/index`` from the current sources; ``redactor`` (the dataset's,
    dataset.redact.Redactor) replaces personal data in the passages as in the training rows.
    The answer groups are keyed by the text before redaction, as the dataset's are.
    ``conversations`` (the dataset's rows) give each entry its phrasings."""
    from assistant_builder.sources.ingest import load_index

    sources = [e["sha256"] for e in load_index(ws)["files"].values()]
    passages = passages_from_items(items)
    if redactor is not None:
        for p in passages:
            p.title = redactor.redact_text(p.title)[0]
            p.body = redactor.redact_text(p.body)[0]
            p.variants = [redactor.redact_text(v)[0] for v in p.variants]
    add_phrasings(passages, conversations or [])
    return Index.build(ws.dataset_dir / INDEX_DIR, passages, sources)


def add_phrasings(passages: list[Passage], conversations: list[dict[str, Any]]) -> None:
    """Each passage's ``phrasings``: the questions the dataset asks for its answer group,
    other than its own title and the source's variants."""
    by_group: dict[str, list[str]] = {}
    for c in conversations:
        group = (c.get("meta") or {}).get("group")
        asked = [m["content"] for m in c.get("messages", []) if m.get("role") == "user"]
        if group and len(asked) == 1:
            by_group.setdefault(group, []).append(" ".join(asked[0].split()))
    for p in passages:
        have = {p.title.lower(), *(v.lower() for v in p.variants)}
        for q in by_group.get(p.group, []):
            if q.lower() not in have:
                have.add(q.lower())
                p.phrasings.append(q)


def open_index(ws: Workspace, run_dir: Path | None = None) -> tuple[Index, list[str]]:
    """The index a run trained with (its copy), else the workspace's; with notices (stale)."""
    folder = ws.dataset_dir / INDEX_DIR
    if run_dir is not None and (run_dir / INDEX_DIR / "meta.json").is_file():
        folder = run_dir / INDEX_DIR
    index = Index.load(folder)
    notices = []
    stale = index.stale_notice(ws)
    if stale:
        notices.append(stale)
    if not index.passages:
        notices.append("the retrieval index is empty: answers come without passages")
    return index, notices
