"""Small widgets the stage screens share."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

BLOCKS = " ▁▂▃▄▅▆▇█"


class LossChart(Widget):
    """Loss per logged step as columns scaled from 0 (not from the minimum, as a sparkline
    does: one point or a flat loss must not look like a full bar), with the scale on the left."""

    values: reactive[list[float]] = reactive(list, always_update=True)

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        if not self.values:
            return Text("The loss appears here once training logs its first step.", "dim")
        top = max(self.values) or 1.0
        label_w = len(f"{top:.2f}") + 1
        cols = max(1, width - label_w)
        # One column per step while they fit; then each column is the mean of its share.
        n = len(self.values)
        buckets = [
            self.values[i * n // cols : max(i * n // cols + 1, (i + 1) * n // cols)]
            for i in range(min(cols, n))
        ]
        heights = [sum(b) / len(b) / top * height * 8 for b in buckets]
        lines = []
        for row in range(height):
            floor = (height - 1 - row) * 8  # eighths below this row
            cells = "".join(BLOCKS[max(0, min(8, round(h - floor)))] for h in heights)
            label = f"{top:.2f}" if row == 0 else ("0" if row == height - 1 else "")
            lines.append(f"{label:>{label_w - 1}} {cells}")
        return Text("\n".join(lines))
