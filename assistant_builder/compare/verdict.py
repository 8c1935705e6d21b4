"""One line a team can act on: blind human ratings first, automatic metrics as support.

People who know the domain decide; metrics against references can only agree or disagree with
them (ROUGE-L rewards copying the reference's words, not being right). So the verdict is
"better" only when the 95% interval of the candidate's share of decisive ratings excludes one
half, and says "inconclusive, rate more" otherwise, with a rough count of the ratings still
needed at the current rate. A metrics disagreement is called out rather than averaged away.
"""

from __future__ import annotations

from typing import Any

from assistant_builder.metrics import wilson_interval

# Metrics "favour" a side only by a margin a reader would notice; smaller gaps are noise.
METRIC_MARGIN = 0.02


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def ratings_needed(wins: int, decided: int, limit: int = 2000) -> int | None:
    """Extra decisive ratings at the current win share until the 95% interval excludes 1/2;
    None when the share is exactly 1/2 (or no ratings), where no number of ratings would do."""
    if decided == 0 or 2 * wins == decided:
        return None
    share = wins / decided
    for extra in range(0, limit):
        n = decided + extra
        lo, hi = wilson_interval(round(share * n), n)
        if lo > 0.5 or hi < 0.5:
            return extra
    return None


def metrics_lean(metrics: dict[str, Any] | None) -> tuple[str | None, str]:
    """('x' | 'y' | 'tie' | None, description) from a compare summary's ROUGE-L and token F1
    (x = the summary's "tuned" side). None when there were no references."""
    if not metrics or "rouge_l" not in metrics.get("tuned", {}):
        return None, "no reference metrics"
    x, y = metrics["tuned"], metrics["base"]
    dr, df = x["rouge_l"] - y["rouge_l"], x["token_f1"] - y["token_f1"]
    text = f"ROUGE-L {x['rouge_l']:.2f} vs {y['rouge_l']:.2f}, token F1 {x['token_f1']:.2f} vs "
    text += f"{y['token_f1']:.2f}"
    if dr >= METRIC_MARGIN and df >= METRIC_MARGIN:
        return "x", text
    if dr <= -METRIC_MARGIN and df <= -METRIC_MARGIN:
        return "y", text
    return "tie", text


def verdict_line(
    verdict: dict[str, Any], metrics: dict[str, Any] | None = None, scope: str = "overall"
) -> str:
    """The line for ``verdict`` (``RatingStore.verdict``) and a compare summary of the same
    two models. ``scope`` picks ``overall`` or a source document from ``by_source``."""
    x, y = verdict["model_x"], verdict["model_y"]
    s = verdict["overall"] if scope == "overall" else verdict["by_source"][scope]
    wins, decided = s["win"]["count"], s["decisive"]["n"]
    lo, hi = s["decisive"]["ci95"]
    lean, mtext = metrics_lean(metrics if scope == "overall" else None)
    if s["n"] == 0:
        head = f"inconclusive, rate more: no ratings of {x} vs {y} yet"
    else:
        share = f"{_pct(wins / decided)}, " if decided else ""
        figures = (
            f"{x} wins {wins}/{decided} decisive ratings "
            f"({share}95% CI {100 * lo:.0f}–{_pct(hi)}), "
            f"{s['tie']['count']} tie{'' if s['tie']['count'] == 1 else 's'}, "
            f"{s['both_bad']['count']} both bad"
        )
        if s["conclusion"] == "x_better":
            head = f"{x} better than {y}: {figures}"
        elif s["conclusion"] == "y_better":
            head = f"{y} better than {x}: {figures}"
        else:
            need = ratings_needed(wins, decided)
            plural = "s" if need != 1 else ""
            more = f"; about {need} more decisive rating{plural} at this rate" if need else ""
            head = f"inconclusive, rate more: {figures}{more}"
        if s["both_bad"]["count"] * 2 > s["n"]:
            head += "; most answers are bad on both sides"
    if lean is None:
        return head
    agree = {"x": x, "y": y}.get(lean)
    if s["conclusion"] == "inconclusive" or s["n"] == 0:
        tail = f"metrics favour {agree}" if agree else "metrics are level"
    elif (s["conclusion"] == "x_better") == (lean == "x") and lean != "tie":
        tail = "metrics agree"
    else:
        tail = "metrics disagree, read the answers"
    return f"{head}; {tail} ({mtext})"


def verdict_report(verdict: dict[str, Any], metrics: dict[str, Any] | None) -> dict[str, Any]:
    """The verdict with its lines, overall and per source, for ``rate --verdict --json``."""
    return {
        **verdict,
        "line": verdict_line(verdict, metrics),
        "source_lines": {src: verdict_line(verdict, None, src) for src in verdict["by_source"]},
        "metrics": {k: metrics.get(k) for k in ("base", "tuned", "questions")} if metrics else None,
    }
