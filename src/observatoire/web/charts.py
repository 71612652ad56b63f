"""Charts drawn on the server as SVG: a value over the years against its target.

Readable without JavaScript (each point carries its value in words) and always shown with the
table of the same values.
"""

from __future__ import annotations

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
    return {
        "width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT,
        "bottom": HEIGHT - BOTTOM, "label": label,
        "line": " ".join(f"{d['x']},{d['y']}" for d in dots), "dots": dots, "ticks": ticks,
        "target": None if target is None else {
            "y": round(y(target), 1), "text": formatting.indicator_value(target, unit)},
    }
