"""Charts drawn on the server as SVG: a value over the years against its target.

Readable without JavaScript (each point carries its value in words) and always shown with the
table of the same values.
"""

from __future__ import annotations

import json
from typing import Any

from observatoire import formatting

WIDTH, HEIGHT = 560.0, 220.0
LEFT, RIGHT, TOP, BOTTOM = 56.0, 16.0, 16.0, 28.0


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

    def x(year: int) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (year - first) / span

    def y(value: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (high - value) / (high - low)

    dots = [{"x": round(x(yr), 1), "y": round(y(v), 1), "year": yr,
             "text": formatting.indicator_value(v, unit)} for yr, v in known]
    steps = [low + (high - low) * k / 4 for k in range(5)]
    ticks = [{"y": round(y(v), 1), "text": formatting.indicator_value(v, unit)} for v in steps]
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
        "width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT,
        "bottom": HEIGHT - BOTTOM, "label": label,
        "line": " ".join(f"{d['x']},{d['y']}" for d in dots), "dots": dots, "ticks": ticks,
        "target": None if target is None else {
            "y": round(y(target), 1), "text": formatting.indicator_value(target, unit)},
    }


def bars(groups: list[tuple[str, float | None]], unit: str, label: str,
         limit: int = 15) -> dict[str, Any] | None:
    """A horizontal bar chart of the largest groups of a breakdown (their values in words)."""
    known = [(name, value) for name, value in groups if value is not None][:limit]
    if not known:
        return None
    low = min(0.0, min(v for _, v in known))
    high = max(max(v for _, v in known), 0.0)
    if unit == "percent" and low >= 0:
        high = max(high, 1.0 if high > 0.5 else high * 1.1 or 1.0)
    span = (high - low) or 1.0
    label_width, bar_width, row = 200.0, WIDTH - 200.0 - 70.0, 22.0
    rows = []
    for i, (name, value) in enumerate(known):
        x0 = label_width + bar_width * (0 - low) / span
        x1 = label_width + bar_width * (value - low) / span
        rows.append({
            "y": round(TOP + i * row, 1), "text_y": round(TOP + i * row + row * 0.5, 1),
            "x": round(min(x0, x1), 1), "width": round(max(abs(x1 - x0), 1.0), 1),
            "name": name if len(name) <= 32 else name[:31] + "…", "full_name": name,
            "value": formatting.indicator_value(value, unit), "value_x": round(max(x0, x1) + 4, 1),
        })
    return {"width": WIDTH, "height": round(TOP * 2 + len(rows) * row, 1), "rows": rows,
            "label": label, "label_x": label_width - 6}


def sparkline(points: list[tuple[int, float | None]], unit: str) -> dict[str, Any] | None:
    """A small line of the values over the years, for the barometer's cards."""
    chart = series(points, unit)
    if chart is None:
        return None
    return {"line": chart["line"], "segments": chart["segments"], "width": WIDTH, "height": HEIGHT,
            "first": chart["dots"][0]["year"], "last": chart["dots"][-1]["year"]}
