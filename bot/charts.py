"""The ``/stats`` chart: questions per day, answered and abstained stacked, as a PNG.

matplotlib's object API on the Agg canvas (no pyplot: no global figure state, safe in the
service's thread pool, which is where it runs: rendering takes tens of milliseconds the
event loop must not wait for). Small on purpose: a few tens of kilobytes, far inside
Discord's attachment limit (``MAX_CHART_BYTES`` is what the bot sends at most).
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from retrieval import Stats

MAX_CHART_BYTES = 1024 * 1024  # Discord takes 10 MiB per upload; a chart needs a fraction
FILENAME = "stats.png"
ANSWERED_COLOR = "#3ba55d"
ABSTAINED_COLOR = "#ed4245"


def stats_chart(stats: Stats) -> bytes:
    """PNG bytes of the per-day chart (labels: the day of the month; every day of the window)."""
    days = [d.day for d in stats.per_day]
    answered = [d.answered for d in stats.per_day]
    abstained = [d.abstained for d in stats.per_day]
    figure = Figure(figsize=(8, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(days)))
    axes.bar(positions, answered, color=ANSWERED_COLOR, label="answered")
    axes.bar(positions, abstained, bottom=answered, color=ABSTAINED_COLOR, label="abstained")
    step = max(1, len(days) // 15)  # at most ~15 labels, whatever the window
    axes.set_xticks(positions[::step], [day[5:] for day in days[::step]], fontsize=8)
    axes.set_ylabel("questions")
    axes.set_title(f"Questions per day, last {stats.days} day(s) (UTC)", fontsize=10)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # no 0.5 questions
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(loc="upper left", fontsize=8, frameon=False)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
