"""The Dataset stage: ingested pairs and sections → chat conversations, dedup, train/eval split.

One conversation per line (``messages`` format, what TRL and chat platforms read) with a
``meta`` object carrying provenance. The split is by *answer group*: every phrasing of a
question that shares one answer lands on the same side, so no paraphrase of an eval answer is
trained on. Human edits live in ``dataset/edits.jsonl`` (append-only) and are applied on every
build, so rebuilding never loses a person's review.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant_builder.dataset.out_of_scope import out_of_scope_rows
from assistant_builder.dataset.paraphrase import DEFAULT_VARIANTS
from assistant_builder.dataset.questions import GenConfig, QuestionGenerator
from assistant_builder.dataset.review import overlay_edit
from assistant_builder.dataset.teacher import TeacherConfig
from assistant_builder.errors import UserError
from assistant_builder.events import OnEvent, Progress, ignore
from assistant_builder.locks import store_lock
from assistant_builder.sources.ingest import load_items
from assistant_builder.workspace import (
    Workspace,
    atomic_write_json,
    atomic_write_jsonl,
    read_jsonl,
    sha256_file,
)

REVIEW_STATES = ("new", "approved", "rejected", "edited", "stale")


@dataclass
class BuildOptions:
    # Share of answer groups held out for eval, on top of min_eval. A held-out answer is one the
    # model never learns: 0.15 held out 7 of the Homebrew FAQ's 28 answers, 5 of them asked in
    # its golden set (benchmarks/README.md, answer quality). So by default only min_eval groups
    # are held out.
    eval_fraction: float = 0.0
    min_eval: int = 1
    seed: int = 0
    include_sections: bool = True
    question_strategy: str = "template"
    # Extra phrasings per answer beyond its first question: the source's own variants count
    # first, generated paraphrases fill up (see paraphrase.py for why 3 is the default).
    variants: int = DEFAULT_VARIANTS
    out_of_scope: int = 0  # built-in off-topic questions answered with the hand-off message
    questions_per_section: int = 3  # for the model and teacher strategies
    teacher: TeacherConfig | None = None
    engine: Any = None  # a generate.Engine for the model strategy (tests inject a small one)
    redact: bool | None = None  # None: the workspace setting (on unless switched off)
    paraphraser: str = "semantic"  # or "rules" (see questions.GenConfig)


@dataclass
class DatasetReport:
    train: int = 0
    eval: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    groups: int = 0
    sources: int = 0
    made: dict[str, int] = field(default_factory=dict)
    strategy: str = "template"
    variants: int = DEFAULT_VARIANTS
    # Who wrote generated questions and paraphrases: "template-fallback" counts sections where
    # nothing the model or teacher wrote was grounded (a weak base model shows up here).
    generators: dict[str, int] = field(default_factory=dict)
    redaction: dict[str, Any] = field(default_factory=dict)
    passages: int = 0  # in the retrieval index (dataset/index), rebuilt with the dataset
    # A paraphrase source that failed (no WordNet, teacher down) and what was used instead.
    notices: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "train": self.train,
            "eval": self.eval,
            "dropped": self.dropped,
            "groups": self.groups,
            "sources": self.sources,
            "made": self.made,
            "strategy": self.strategy,
            "variants": self.variants,
            "generators": self.generators,
            "redaction": self.redaction,
            "index": {"passages": self.passages},
            "notices": self.notices,
        }


def normalize_question(q: str) -> str:
    """Key for duplicate detection: case, punctuation and spacing do not make a new question."""
    q = q.lower().replace("’", "'")
    q = re.sub(r"[`*_\"'“”]", "", q)
    q = re.sub(r"[^\w\s]", " ", q)
    return " ".join(q.split())


def _token_set(q: str) -> frozenset[str]:
    return frozenset(normalize_question(q).split())


NEAR_DUPLICATE = 0.9  # "pin" vs "unpin a formula" is 0.71: distinct questions stay


def _near_duplicate(
    a: frozenset[str], b: frozenset[str], threshold: float = NEAR_DUPLICATE
) -> bool:
    if not a or not b:
        return False
    return len(a & b) / len(a | b) >= threshold


def _duplicate_reason(
    q: str,
    r: dict[str, Any],
    seen_norm: dict[str, str],
    seen_raw: set[tuple[str, str]],
    seen_sets: list[tuple[frozenset[str], str]],
) -> str:
    """'duplicate', 'near_duplicate' or '' for a question against the ones already kept.

    Across answer groups a question that normalises to a kept one (case, punctuation) or
    nearly matches it is a duplicate: two answers to one question confuse training. Within a
    group, a paraphrase that differs only in case or punctuation ("how do i pin a formula")
    is kept on purpose: users type that way, and the tokens differ.
    """
    group = r["group"]
    if (group, q) in seen_raw:
        return "duplicate"
    key = normalize_question(q)
    if key in seen_norm and (seen_norm[key] != group or r["how"] != "paraphrased"):
        return "duplicate"
    toks = _token_set(q)
    if any(g != group and _near_duplicate(toks, s) for s, g in seen_sets):
        return "near_duplicate"
    return ""


def example_id(source: str, question: str) -> str:
    """Stable across re-ingests of a changed file, so a person's review follows the example.
    Keyed by the exact question text (spaces trimmed): a lower-case paraphrase of a question is
    a row of its own and must not share its review."""
    key = " ".join(question.split())
    return hashlib.sha256(f"{source}\0{key}".encode()).hexdigest()[:16]


def make_conversation(
    question: str, answer: str, system_prompt: str | None, meta: dict[str, Any]
) -> dict[str, Any]:
    messages: list[dict[str, str]] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": question})
    messages.append({"role": "assistant", "content": answer})
    return {"messages": messages, "meta": meta}


def _provenance(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "source": item.get("source"),
        "format": item.get("format"),
        "line_start": item.get("line_start"),
        "line_end": item.get("line_end"),
        "page": item.get("page"),
        "sha256": item.get("sha256"),
    }


def _group(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()[:12]


def _dropped(r: dict[str, Any], reason: str, detail: str = "") -> dict[str, Any]:
    d = {"question": r["q"], "reason": reason, "source": r.get("source")}
    if r.get("line_start") is not None:
        d["line"] = r["line_start"]
    return {**d, "detail": detail} if detail else d


def candidate_rows(
    items: list[dict[str, Any]],
    opts: BuildOptions,
    gen: QuestionGenerator | None = None,
    on_event: OnEvent = ignore,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows, dropped) before dedup: extracted pairs with the source's variants, generated
    questions for sections (grounding-checked), out-of-scope rows; then the paraphrases.

    Rows are (q, a, how, group, provenance). Paraphrases come last so that a question from
    the source always wins the duplicate check over a generated rewording of another one.
    """
    from assistant_builder.dataset.heading_questions import (
        MIN_SECTION_CHARS,
        grounding_problem,
        section_answer,
    )
    from assistant_builder.sources.parsers.cleanup import unwrap_paragraphs

    gen = gen or QuestionGenerator(GenConfig())
    rows: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    firsts: list[tuple[dict[str, Any], int]] = []  # (first row of a group, phrasings so far)
    sections: list[tuple[dict[str, Any], str]] = []
    for item in items:
        prov = _provenance(item)
        if item.get("kind") == "pair":
            answer = unwrap_paragraphs(item["answer"]).strip()
            qs = [item["question"], *item.get("variants", [])]
            for j, q in enumerate(qs):
                how = item.get("how", "extracted") if j == 0 else "variant"
                rows.append({"q": q, "a": answer, "how": how, "group": _group(answer), **prov})
            firsts.append((rows[-len(qs)], len(qs)))
        elif item.get("kind") == "section" and opts.include_sections:
            text = section_answer(unwrap_paragraphs(item.get("text", "")))
            if len(text) >= MIN_SECTION_CHARS:
                sections.append((item, text))
    for (item, text), (qs, fallback) in zip(
        sections, gen.section_questions(sections, on_event), strict=True
    ):
        prov, heading = _provenance(item), " ".join(item.get("heading_path") or [])
        kept: list[dict[str, Any]] = []
        for q in qs:
            r = {"q": q, "a": text, "how": "generated", "group": _group(text), **prov}
            problem = grounding_problem(q, text, item.get("text", ""), heading)
            if problem:
                dropped.append(_dropped(r, "ungrounded", problem))
            else:
                r["generator"] = gen.cfg.strategy
                kept.append(r)
        if not kept and fallback:
            kept = [
                {"q": q, "a": text, "how": "generated", "group": _group(text), **prov}
                | {"generator": "template-fallback"}
                for q in fallback
            ]
        if kept:
            rows.extend(kept)
            firsts.append((kept[0], len(kept)))
    rows.extend(out_of_scope_rows(opts.out_of_scope))
    for first, have in firsts:
        n = max(0, opts.variants - (have - 1))
        for p, who, steps in gen.paraphrases(first["q"].strip(), n, first["a"] or ""):
            rows.append(
                {**first, "q": p, "how": "paraphrased", "paraphrase_of": first["q"]}
                | {"generator": who, "paraphrase_steps": steps}
            )
    gen.close()
    return rows, dropped


def load_edits(ws: Workspace) -> dict[str, dict[str, Any]]:
    """Latest edit per example id (edits.jsonl is append-only; later lines win)."""
    path = ws.dataset_dir / "edits.jsonl"
    edits: dict[str, dict[str, Any]] = {}
    if path.is_file():
        text = path.read_text(encoding="utf-8", errors="replace")
        for lineno, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                if lineno == text.count("\n") + 1:
                    continue  # the last line, cut short by a killed command: not an edit
                raise UserError(f"{path}:{lineno}: not valid JSON") from None
            if isinstance(row, dict) and isinstance(row.get("id"), str):
                edits[row["id"]] = row
    return edits


def record_edit(
    ws: Workspace,
    ex_id: str,
    *,
    review: str,
    question: str | None = None,
    answer: str | None = None,
    sha256: str | None = None,
) -> None:
    """Append a person's review of one example (approve/reject/edit). Never rewrites history."""
    import json

    if review not in REVIEW_STATES:
        raise UserError(f"review state must be one of {', '.join(REVIEW_STATES)}")
    row: dict[str, Any] = {
        "id": ex_id,
        "review": review,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if question is not None:
        row["question"] = question
    if answer is not None:
        row["answer"] = answer
    if sha256 is not None:
        row["sha256"] = sha256
    path = ws.dataset_dir / "edits.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
    with store_lock(ws.root, "edits"), open(path, "ab") as f:
        # A line cut short by a killed command stays on its own line, never glued to this one.
        if f.tell() > 0:
            with open(path, "rb") as r:
                r.seek(-1, 2)
                if r.read(1) != b"\n":
                    line = b"\n" + line
        f.write(line)


def _is_eval_group(group: str, seed: int, fraction: float) -> bool:
    h = int(hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()[:8], 16)
    return (h / 0xFFFFFFFF) < fraction


def build_dataset(
    ws: Workspace, opts: BuildOptions | None = None, on_event: OnEvent = ignore
) -> DatasetReport:
    """Build the dataset files; one build at a time per workspace (a second one waits)."""
    ws.require()
    with store_lock(ws.root, "dataset", on_wait=lambda m: on_event(Progress("dataset", m))):
        # Half-written files of a build that was killed (atomic writes' temporary names).
        for tmp in ws.dataset_dir.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        return _build_dataset(ws, opts, on_event)


def _build_dataset(
    ws: Workspace, opts: BuildOptions | None = None, on_event: OnEvent = ignore
) -> DatasetReport:
    opts = opts or BuildOptions()
    ws.require()
    settings = ws.load_settings()
    items = load_items(ws)
    if not items:
        raise UserError("no sources ingested yet (run `assistant-builder ingest PATH` first)")
    on_event(Progress("dataset", f"{len(items)} items from sources"))
    gen = QuestionGenerator(
        GenConfig(
            strategy=opts.question_strategy,
            per_section=opts.questions_per_section,
            base_model=settings.base_model,
            teacher=opts.teacher,
            engine=opts.engine,
            paraphraser=opts.paraphraser,
        ),
        cache_path=ws.cache_dir / "questions.json",
    )
    rows, dropped_rows = candidate_rows(items, opts, gen, on_event)
    for note in gen.notices:
        on_event(Progress("dataset", f"notice: {note}"))
    for r in rows:
        if r["how"] == "out-of-scope":
            r["a"] = settings.out_of_scope_message
    # Closing the loop: rows corrected by raters (dataset/feedback.jsonl, written by
    # `assistant-builder rate --to-dataset`) go first, so they win the duplicate check below.
    from assistant_builder.dataset.feedback import merge_feedback

    rows = merge_feedback(ws, rows)
    edits = load_edits(ws)
    sources = {r["source"] for r in rows} | {
        i.get("source") for i in items if i.get("kind") == "conversation"
    }
    report = DatasetReport(sources=len(sources))
    report.strategy, report.variants = opts.question_strategy, opts.variants
    report.notices = list(gen.notices)
    seen_norm: dict[str, str] = {}  # normalised question → its answer group
    seen_raw: set[tuple[str, str]] = set()
    seen_sets: list[tuple[frozenset[str], str]] = []
    conversations: list[dict[str, Any]] = []
    for r in rows:
        ex_id = example_id(r["source"] or "", r["q"])
        q, a, review, edited = overlay_edit(
            " ".join(r["q"].split()), (r["a"] or "").strip(), "new", edits.get(ex_id), r["sha256"]
        )
        reason = _duplicate_reason(q, r, seen_norm, seen_raw, seen_sets)
        if not q or not a:
            reason = "empty"
        elif review == "rejected":
            reason = "rejected"
        if reason:
            dropped_rows.append(_dropped(r, reason))
            continue
        seen_norm.setdefault(normalize_question(q), r["group"])
        seen_raw.add((r["group"], q))
        seen_sets.append((_token_set(q), r["group"]))
        meta = {
            "id": ex_id,
            "group": r["group"],
            "how": "edited" if edited else r["how"],
            "review": review,
            **{k: r[k] for k in ("source", "format", "line_start", "line_end", "page", "sha256")},
        }
        meta.update(
            {k: r[k] for k in ("paraphrase_of", "generator", "paraphrase_steps") if r.get(k)}
        )
        conversations.append(make_conversation(q, a, settings.system_prompt, meta))
    from assistant_builder.dataset.transcripts import transcript_conversations

    transcripts, dropped_transcripts = transcript_conversations(
        items, edits, settings.system_prompt
    )
    conversations += transcripts
    dropped_rows += dropped_transcripts
    if not conversations:
        raise UserError("every example was dropped; nothing to train on")
    from assistant_builder.dataset.redact import (
        keep_published,
        policy,
        redact_dataset,
        workspace_redactor,
        write_report,
    )

    redactor = workspace_redactor(ws, opts.redact)
    if redactor is not None and policy(ws).get("keep_published", True):
        keep_published(redactor, items)
    redactions = redact_dataset(conversations, redactor)
    groups = sorted({c["meta"]["group"] for c in conversations})
    eval_groups = {g for g in groups if _is_eval_group(g, opts.seed, opts.eval_fraction)}
    # Small datasets: make sure there is something to evaluate on, but keep most for training.
    if len(eval_groups) < opts.min_eval and len(groups) > 1:
        ranked = sorted(groups, key=lambda g: hashlib.sha256(f"{opts.seed}:{g}".encode()).digest())
        eval_groups = set(ranked[: opts.min_eval])
    train = [c for c in conversations if c["meta"]["group"] not in eval_groups]
    evals = [c for c in conversations if c["meta"]["group"] in eval_groups]
    for c in train:
        c["meta"]["split"] = "train"
    for c in evals:
        c["meta"]["split"] = "eval"
    d = ws.dataset_dir
    atomic_write_jsonl(d / "conversations.jsonl", train + evals)
    atomic_write_jsonl(d / "train.jsonl", train)
    atomic_write_jsonl(d / "eval.jsonl", evals)
    # Every dropped question with its reason, for a person to check what the counts hide.
    atomic_write_jsonl(d / "dropped.jsonl", dropped_rows)
    report.train, report.eval, report.groups = len(train), len(evals), len(groups)
    for x in dropped_rows:
        report.dropped[x["reason"]] = report.dropped.get(x["reason"], 0) + 1
    for c in conversations:
        report.made[c["meta"]["how"]] = report.made.get(c["meta"]["how"], 0) + 1
        who = c["meta"].get("generator")
        if who:
            report.generators[who] = report.generators.get(who, 0) + 1
    # What was redacted, row by row, for a reviewer to check (and undo with the allow-list).
    write_report(d / "redactions.json", redactions)
    report.redaction = {k: v for k, v in redactions.items() if k != "examples"}
    report.redaction["report"] = "redactions.json"
    from assistant_builder.retrieval.index import build_workspace_index

    # The index holds the same material as the dataset, so it gets the same redaction.
    report.passages = len(build_workspace_index(ws, items, redactor, conversations).passages)
    atomic_write_json(d / "report.json", report.to_json())
    on_event(Progress("dataset", f"{report.train} train, {report.eval} eval"))
    return report


def load_split(ws: Workspace, split: str) -> list[dict[str, Any]]:
    path = ws.dataset_dir / f"{split}.jsonl"
    if not path.is_file():
        raise UserError(f"no {split} split yet (run `assistant-builder dataset` first)")
    return list(read_jsonl(path))


def dataset_hash(path: Path) -> str:
    return sha256_file(path)
