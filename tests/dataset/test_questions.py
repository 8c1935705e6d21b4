from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from assistant_builder.dataset.build import BuildOptions, build_dataset, load_split
from assistant_builder.dataset.heading_questions import (
    grounding_problem,
    heading_kind,
    parse_generated,
    template_questions,
)
from assistant_builder.sources.ingest import ingest_paths

GUIDE = """# Widget Guide

## Resetting the widget

Hold the reset button for ten seconds until the status light blinks twice,
then release it and wait for the widget to restart.

## A firmware update fails

Check that the widget is charged above 20 percent and connected to Wi-Fi,
then start the firmware update again from the app.

## Pairing requirements

The widget pairs with phones running the companion app version 3 or later
and needs Bluetooth turned on during pairing.
"""


@pytest.mark.parametrize(
    ("heading", "first"),
    [
        (["Guide", "Restoring an installation"], "How do I restore an installation?"),
        (["Guide", "Install previous versions"], "How do I install previous versions?"),
        (["Guide", "Quickly remove a link"], "How do I quickly remove a link?"),
        (["Guide", "A cask download fails"], "What should I do if a cask download fails?"),
        (["Guide", "Missing Command Line Tools"], "How do I fix missing Command Line Tools?"),
        (["Guide", "`bad interpreter: ruby`"], 'How do I fix the error "bad interpreter: ruby"?'),
        (["Guide", "After a macOS upgrade"], "What should I do after a macOS upgrade?"),
        (["Guide", "macOS requirements"], "What are the macOS requirements?"),
        (["Guide", "Why is it slow?"], "Why is it slow?"),
    ],
)
def test_template_questions_read_naturally(heading: list[str], first: str) -> None:
    assert template_questions(heading, "some text")[0] == first


def test_heading_kinds() -> None:
    assert heading_kind("Local changes prevent `brew update`") == "symptom_clause"
    assert heading_kind("Git remote mirroring") == "topic"
    assert heading_kind("Configuring proxies") == "gerund"


def test_names_keep_their_capitals() -> None:
    text = "Install the plugin for Visual Studio Code. It runs on Linux and Windows."
    assert template_questions(["Visual Studio Code"], text)[0].endswith("Visual Studio Code?")
    q = template_questions(["Linux or Windows"], "Use it on Linux, or on Windows.")[0]
    assert "Linux or Windows" in q


def test_grounding_rejects_off_topic_questions_and_foreign_answers() -> None:
    text = "Hold the reset button for ten seconds until the status light blinks."
    assert grounding_problem("How do I reset the widget?", text, text, "Resetting the widget") == ""
    problem = grounding_problem("What is the capital of France?", text, text)
    assert problem.startswith("question words not in the section")
    assert "answer is not a span" in grounding_problem("How do I reset?", "Call us.", text)
    span = "until the status light blinks."
    assert grounding_problem("When does the status light blink?", span, text) == ""


def test_parse_generated_is_robust_to_chatter_and_numbering() -> None:
    text = (
        "Sure! Here are three questions:\n1. How do I reset the widget?\n"
        "2) What does the blinking light mean? 3. Why?\n- **Can I pair two phones?**\nThanks"
    )
    assert parse_generated(text) == [
        "How do I reset the widget?",
        "What does the blinking light mean?",
        "Can I pair two phones?",
    ]


@dataclass
class _Answer:
    text: str
    stopped: bool = True
    new_tokens: int = 0


class FakeEngine:
    """Stands in for generate.Engine: returns canned model output per prompt."""

    def __init__(self, reply) -> None:
        self.reply = reply
        self.calls = 0

    def answer(self, questions, *, system_prompt=None, tuned=False, settings=None, **kw):
        assert tuned is False and system_prompt is None
        self.calls += 1
        return [_Answer(self.reply(q)) for q in questions]


def _reply(prompt: str) -> str:
    if "firmware" in prompt:
        # One grounded question, one hallucinated one.
        return (
            "1. What should I do when a firmware update fails?\n2. How do I bake sourdough bread?"
        )
    if "Pairing requirements" in prompt:
        return "Pairing is easy and fun."  # no question at all: the template is the fallback
    return "1. How long do I hold the reset button?"


@pytest.fixture
def guide_ws(workspace, tmp_path: Path):
    (tmp_path / "guide.md").write_text(GUIDE)
    ingest_paths(workspace, [tmp_path / "guide.md"])
    return workspace


def test_model_strategy_keeps_grounded_questions_and_reports_the_rest(guide_ws) -> None:
    engine = FakeEngine(_reply)
    opts = BuildOptions(question_strategy="model", engine=engine, variants=0)
    report = build_dataset(guide_ws, opts)
    assert report.dropped == {"ungrounded": 1}
    assert report.generators == {"model": 2, "template-fallback": 2}
    rows = load_split(guide_ws, "train") + load_split(guide_ws, "eval")
    by_q = {r["messages"][1]["content"]: r for r in rows}
    assert "How do I bake sourdough bread?" not in by_q
    firmware = by_q["What should I do when a firmware update fails?"]
    assert firmware["meta"]["generator"] == "model" and firmware["meta"]["how"] == "generated"
    assert firmware["messages"][2]["content"].startswith("Check that the widget is charged")
    assert by_q["What are the pairing requirements?"]["meta"]["generator"] == "template-fallback"
    dropped = (guide_ws.dataset_dir / "dropped.jsonl").read_text()
    assert "sourdough" in dropped and "ungrounded" in dropped
    # Generated questions are cached: a rebuild does not run the model again.
    build_dataset(guide_ws, opts)
    assert engine.calls == 1


def test_template_strategy_unwraps_section_text(guide_ws) -> None:
    build_dataset(guide_ws, BuildOptions(variants=0))
    rows = load_split(guide_ws, "train") + load_split(guide_ws, "eval")
    reset = next(r for r in rows if r["messages"][1]["content"] == "How do I reset the widget?")
    assert reset["messages"][2]["content"] == (
        "Hold the reset button for ten seconds until the status light blinks twice, "
        "then release it and wait for the widget to restart."
    )
    assert reset["meta"]["line_start"] and reset["meta"]["how"] == "generated"
