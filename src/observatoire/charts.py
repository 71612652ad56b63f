"""Charts drawn on the server as SVG: a value over the years against its target.

Readable without JavaScript (each point carries its value in words) and always shown with the
table of the same values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from observatoire import formatting

WIDTH, HEIGHT = 560.0, 220.0
LEFT, RIGHT, TOP, BOTTOM = 56.0, 16.0, 16.0, 28.0
#: Approximate width of a character of 11 px text, to leave room for axis labels.
CHAR_WIDTH = 6.2


def series(points: list[tuple[int, float | None]], unit: str, target: float | None = None,
           label: str = "") -> dict[str, Any] | None:
    """Coordinates of a line chart of ``(year, value)`` with an optional target line."""
    known = [(year, value) for year, value in points if value is not None]
    if len(known) < 2:
        return None
    values = [v for _, v in known] + ([target] if target is not None else [])
    low, high = min(0.0, min(values)), max(values)
    if unit == "percent" and low >= 0:
        high = 1.0 if high > 0.8 else max(high * 1.2, 0.05)
    else:
        high = high + (high - low) * 0.1 if high > low else low + 1.0
    years = [y for y, _ in known]
    first, last = min(years), max(years)
    span = max(last - first, 1)

    def y(value: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (high - value) / (high - low)

    steps = [low + (high - low) * k / 4 for k in range(5)]
    tick_texts = [formatting.indicator_value(v, unit) for v in steps]
    ticks = [{"y": round(y(v), 1), "text": t} for v, t in zip(steps, tick_texts, strict=True)]
    # the axis labels are never cut: the plot starts right of the longest of them
    left = max(LEFT, max(len(t) for t in tick_texts) * CHAR_WIDTH + 12)

    def x(year: int) -> float:
        return left + (WIDTH - left - RIGHT) * (year - first) / span

    dots = [{"x": round(x(yr), 1), "y": round(y(v), 1), "year": yr,
             "text": formatting.indicator_value(v, unit)} for yr, v in known]
    # A year without a known value is a gap in the line, never a point at 0: the line breaks
    # wherever the next known year is not the following one.
    segments: list[list[dict[str, Any]]] = []
    for d in dots:
        if not segments or d["year"] != segments[-1][-1]["year"] + 1:
            segments.append([])
        segments[-1].append(d)
    by_year = dict(known)
    every_year = [[yr, by_year.get(yr)] for yr in range(first, last + 1)]
    return {
        # the same points for the interactive chart drawn where JavaScript runs (charts.js);
        # the years without a value are null, which the chart draws as a gap
        "spec": json.dumps({"points": every_year, "unit": unit, "target": target,
                            "label": label}),
        "segments": [" ".join(f"{d['x']},{d['y']}" for d in seg) for seg in segments],
        "width": WIDTH, "height": HEIGHT, "left": left, "right": WIDTH - RIGHT,
        "bottom": HEIGHT - BOTTOM, "label": label,
        "line": " ".join(f"{d['x']},{d['y']}" for d in dots), "dots": dots, "ticks": ticks,
        "target": None if target is None else {
            "y": round(y(target), 1), "text": formatting.indicator_value(target, unit)},
    }


#: Room for a bar label's line, in px (the label column is 200 px wide).
LABEL_WIDTH = 190.0


def text_width(text: str) -> float:
    """A generous estimate of the width of 11 px sans-serif text, in px: capitals and wide
    letters count more than narrow ones, so that a wrapped line always fits its column."""
    def glyph(c: str) -> float:
        if c in "mwMW@%":
            return 9.5
        if c.isupper():
            return 8.0
        if c == " ":
            return 3.2
        if c in "iljtfr.,;:'!|()[]":
            return 4.0
        return 6.4

    return sum(glyph(c) for c in text)


def wrap(text: str, width: float = LABEL_WIDTH) -> list[str]:
    """A label on as many lines as it needs, never cut: words are kept whole; a word wider
    than a line is split across lines (every character is still drawn)."""
    lines: list[str] = []
    for word in text.split():
        while text_width(word) > width:
            cut = max(1, max(i for i in range(1, len(word) + 1)
                             if text_width(word[:i]) <= width))
            lines.append(word[:cut])
            word = word[cut:]
        if lines and text_width(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return [line for line in lines if line] or [""]


Group = tuple[str, float | None] | tuple[str, float | None, int | None]


def bars(groups: Sequence[Group], unit: str, label: str, limit: int = 15,
         n_label: str = "les enregistrements connus sur lesquels chaque valeur est calculée",
         ) -> dict[str, Any] | None:
    """A horizontal bar chart of the largest groups of a breakdown: each bar with its whole
    label (wrapped, never cut), its value in words and, when given (a group's third item),
    the records it rests on (n)."""
    known: list[tuple[str, float, int | None]] = [
        (g[0], g[1], g[2] if len(g) > 2 else None)
        for g in groups if g[1] is not None][:limit]
    if not known:
        return None
    low = min(0.0, min(v for _, v, _ in known))
    high = max(max(v for _, v, _ in known), 0.0)
    if unit == "percent" and low >= 0:
        high = max(high, 1.0 if high > 0.5 else high * 1.1 or 1.0)
    span = (high - low) or 1.0
    label_width, line = 200.0, 13.0
    texts = [f"{formatting.indicator_value(v, unit)}"
             + (f" (n = {formatting.number(n)})" if n is not None else "") for _, v, n in known]
    # room on the right for the longest value and its n, so that no text is cut
    value_room = max(len(t) for t in texts) * CHAR_WIDTH + 8
    bar_width = max(WIDTH - label_width - value_room, 120.0)
    width = label_width + bar_width + value_room
    rows = []
    y = TOP
    for (name, value, n), text in zip(known, texts, strict=True):
        lines = wrap(name)
        height = max(22.0, line * len(lines) + 9)
        x0 = label_width + bar_width * (0 - low) / span
        x1 = label_width + bar_width * (value - low) / span
        middle = y + height / 2
        rows.append({
            "y": round(middle - 8, 1), "text_y": round(middle, 1),
            "x": round(min(x0, x1), 1), "width": round(max(abs(x1 - x0), 1.0), 1),
            "lines": [{"text": t, "y": round(middle + (i - (len(lines) - 1) / 2) * line, 1)}
                      for i, t in enumerate(lines)],
            "full_name": name, "n": n, "value": text,
            "value_x": round(max(x0, x1) + 4, 1),
        })
        y += height
    return {"width": round(width, 1), "height": round(y + TOP, 1), "rows": rows,
            "label": label, "label_x": label_width - 6,
            "n_label": n_label if any(r["n"] is not None for r in rows) else ""}


def sparkline(points: list[tuple[int, float | None]], unit: str) -> dict[str, Any] | None:
    """A small line of the values over the years, for the barometer's cards."""
    chart = series(points, unit)
    if chart is None:
        return None
    return {"line": chart["line"], "segments": chart["segments"], "width": WIDTH, "height": HEIGHT,
            "first": chart["dots"][0]["year"], "last": chart["dots"][-1]["year"]}
