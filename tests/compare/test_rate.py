"""The terminal rating loop fed through stdin, the rate command's export/verdict actions, and the
one-line verdict."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
from pathlib import Path

import pytest
from rich.console import Console
from support.cli import cli_command

from assistant_builder.cli.main import main
from assistant_builder.cli.rate import Command, LineInput, parse_command, rate_loop
from assistant_builder.compare.ratings import RatingStore
from assistant_builder.compare.verdict import ratings_needed, verdict_line
from assistant_builder.workspace import Workspace


def add_pairs(ws: Workspace, n: int = 3, seed: int = 7) -> list[int]:
    with RatingStore(ws.ratings_db) as store:
        pairs = store.add_pairs(
            [
                (
                    f"Question {i}?",
                    f"Ref {i}",
                    "faq.md" if i % 2 else "guide.md",
                    "base",
                    f"base answer {i}",
                    "tuned:run1",
                    f"tuned answer {i}",
                )
                for i in range(n)
            ],
            rng=random.Random(seed),
        )
    return [p.id for p in pairs]


def run_loop(ws: Workspace, text: str, rater: str = "ann") -> tuple[dict, str]:
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None)
    with RatingStore(ws.ratings_db) as store:
        result = rate_loop(store, rater, LineInput(io.StringIO(text)), console)
    return result, out.getvalue()


def test_parse_command() -> None:
    assert parse_command("a\n") == Command("a")
    assert parse_command("B 2 5") == Command("b", 2, 5)
    assert parse_command("x - 1 Refunds take 30 days.") == Command(
        "x", None, 1, "Refunds take 30 days."
    )
    assert parse_command("t too long both") == Command("t", note="too long both")
    assert parse_command("a 3").key == "?"  # one score is ambiguous: which side?
    assert parse_command("z").key == "?" and parse_command("").key == "?"


def test_loop_records_reveals_undoes_and_skips(workspace: Workspace) -> None:
    ids = add_pairs(workspace, 4)
    # rate 1st (A, scores, note), skip 2nd, bad key, rate 3rd, undo it, re-rate it, quit.
    text = "a 5 2 clear and right\ns\nz\nx - - The answer is 42.\nu\nt\nq\nb\n"
    result, shown = run_loop(workspace, text)
    assert result["rated"] == 3 and result["undone"] == 1
    assert [r["pair_id"] for r in result["ratings"]] == [ids[0], ids[2], ids[2]]
    # Reveals come after each rating and name the real models; question and answers shown.
    assert shown.count("A was ") == 3 and "Question 0?" in shown and "unknown key 'z'" in shown
    with RatingStore(workspace.ratings_db) as store:
        live = store.ratings()
        assert [(r["pair_id"], r["verdict"]) for r in live] == [(ids[0], "A"), (ids[2], "tie")]
        assert (live[0]["score_a"], live[0]["score_b"], live[0]["note"]) == (
            5,
            2,
            "clear and right",
        )
        assert live[0]["rater"] == "ann" and live[0]["revealed_at"]
        undone = [r for r in store.ratings(include_undone=True) if r["undone_at"]]
        assert [(r["verdict"], r["note"]) for r in undone] == [("both_bad", "The answer is 42.")]
        # "q" stopped before the last line; skipped and unrated pairs are still pending.
        assert [p.id for p in store.pending("ann")] == [ids[1], ids[3]]
    # The reveal matches the recorded shuffle.
    first = result["ratings"][0]
    assert first["winner"] == first["model_a"]


def test_loop_resumes_where_a_rater_stopped_and_raters_are_separate(workspace: Workspace) -> None:
    add_pairs(workspace, 2)
    r1, _ = run_loop(workspace, "a\n")  # end of input after one rating
    assert r1["rated"] == 1 and r1["remaining"] == 1
    r2, _ = run_loop(workspace, "b\n")
    assert r2["ratings"][0]["pair_id"] != r1["ratings"][0]["pair_id"] and r2["remaining"] == 0
    r3, _ = run_loop(workspace, "t\nt\n", rater="bob")
    assert r3["rated"] == 2


def test_undo_with_nothing_to_undo_and_rating_out_of_range(workspace: Workspace) -> None:
    add_pairs(workspace, 1)
    result, shown = run_loop(workspace, "u\na 9 9\na 4 -\n")
    assert "nothing to undo" in shown and "from 1 to 5" in shown and result["rated"] == 1
    with RatingStore(workspace.ratings_db) as store:
        [rating] = store.ratings()
    assert (rating["score_a"], rating["score_b"], rating["note"]) == (4, None, "")


# The rater name the command takes from $USER.
CAROL = {"USER": "carol"}


def test_rate_command_over_a_pipe_then_export_and_verdict(
    workspace: Workspace, tmp_path: Path, run_cli
) -> None:
    add_pairs(workspace, 3)
    r = run_cli(
        workspace.root, "rate", "--json", stdin="a 4 2\nb\nx - - Right answer.\n", env=CAROL
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["rater"] == "carol" and data["rated"] == 3 and data["remaining"] == 0
    assert "A was" in r.stderr

    r = run_cli(workspace.root, "rate", "--json", "--export", str(tmp_path / "r.csv"))
    assert json.loads(r.stdout)["exported"] == 3
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [row["verdict"] for row in rows] == ["A", "B", "both_bad"]
    assert rows[2]["note"] == "Right answer." and rows[0]["rater"] == "carol"
    r = run_cli(workspace.root, "rate", "--json", "--export", str(tmp_path / "r.jsonl"))
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 3

    r = run_cli(workspace.root, "rate", "--json", "--verdict")
    v = json.loads(r.stdout)
    assert (v["model_x"], v["model_y"]) == ("tuned:run1", "base")
    assert v["overall"]["n"] == 3 and v["overall"]["both_bad"]["count"] == 1
    assert set(v["source_lines"]) == {"faq.md", "guide.md"}
    assert v["line"].startswith("inconclusive, rate more")
    assert v["line"] in " ".join(r.stderr.split())  # rich wraps lines on stderr

    bad = run_cli(workspace.root, "rate", "--json", "--export", str(tmp_path / "r.txt"))
    assert bad.returncode == 2 and "csv or .jsonl" in json.loads(bad.stdout)["error"]


def test_verdict_without_comparisons_is_a_user_error(workspace: Workspace, capsys) -> None:
    assert main(["rate", "--workspace", str(workspace.root), "--json", "--verdict"]) == 2
    assert "no comparisons yet" in json.loads(capsys.readouterr().out)["error"]


def summary(wins: int, losses: int, ties: int = 0, both_bad: int = 0) -> dict:
    from assistant_builder.compare.ratings import _summarise

    items = [("win", None, None)] * wins + [("loss", None, None)] * losses
    items += [("tie", None, None)] * ties + [("both_bad", None, None)] * both_bad
    return {"model_x": "tuned", "model_y": "base", "overall": _summarise(items), "by_source": {}}


METRICS_UP = {
    "tuned": {"rouge_l": 0.41, "token_f1": 0.5},
    "base": {"rouge_l": 0.2, "token_f1": 0.3},
}


def test_verdict_line_reads_like_a_decision() -> None:
    line = verdict_line(summary(14, 6, ties=3), METRICS_UP)
    assert line.startswith("inconclusive, rate more: tuned wins 14/20 decisive ratings")
    assert "(70%, 95% CI 48–85%)" in line and "3 ties" in line
    assert "about 1 more decisive rating at this rate" in line and "metrics favour tuned" in line
    line = verdict_line(summary(18, 2), METRICS_UP)
    assert line.startswith("tuned better than base: tuned wins 18/20") and "metrics agree" in line
    down = {"tuned": METRICS_UP["base"], "base": METRICS_UP["tuned"]}
    assert "metrics disagree, read the answers" in verdict_line(summary(18, 2), down)
    assert verdict_line(summary(2, 18)).startswith("base better than tuned")
    assert verdict_line(summary(0, 0)).startswith("inconclusive, rate more: no ratings")
    assert "most answers are bad on both sides" in verdict_line(summary(3, 0, both_bad=5))


@pytest.mark.parametrize(("wins", "decided"), [(14, 20), (7, 10), (3, 10)])
def test_ratings_needed_is_the_first_count_that_settles_it(wins: int, decided: int) -> None:
    from assistant_builder.metrics import wilson_interval

    extra = ratings_needed(wins, decided)
    assert extra is not None
    share = wins / decided

    def settled(n: int) -> bool:
        lo, hi = wilson_interval(round(share * n), n)
        return lo > 0.5 or hi < 0.5

    assert settled(decided + extra) and not settled(decided + extra - 1)
    assert ratings_needed(5, 10) is None and ratings_needed(0, 0) is None


def test_ratings_made_in_the_loop_survive_a_kill(workspace: Workspace) -> None:
    """The real command, killed with SIGKILL mid-session: every rating it revealed is on disk."""
    import signal
    import time

    add_pairs(workspace, 3)
    proc = subprocess.Popen(
        cli_command(workspace.root, "rate"),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "USER": "dave"},
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write("a 5 1 keep me\nb\n")  # two ratings; the third pair waits for input
        proc.stdin.flush()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with RatingStore(workspace.ratings_db) as store:
                if len(store.ratings()) == 2:
                    break
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)  # no chance to close or checkpoint
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    with RatingStore(workspace.ratings_db) as store:
        rows = store.ratings()
        assert [(r["rater"], r["note"]) for r in rows] == [("dave", "keep me"), ("dave", "")]
        assert len(store.pending("dave")) == 1
