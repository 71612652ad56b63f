"""Maps drawn on the server as SVG: readable without JavaScript, each with a table beside it.

The boundaries are projected once (equirectangular, corrected for France's latitude) and thinned
to a few pixels, so that a map weighs about 50 kB, not megabytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

GEO = Path(__file__).resolve().parent / "geo"
WIDTH = 560.0
#: Five shades of one blue (light to dark); text never relies on colour alone.
SHADES = ("#dbe9f6", "#a9cce3", "#6baed6", "#2f7ebc", "#08519c")


@lru_cache(maxsize=4)
def _shapes(name: str) -> tuple[tuple[tuple[str, str, str], ...], float]:
    """(code, name, SVG path) of every feature, and the height of the drawing."""
    data = json.loads((GEO / name).read_text(encoding="utf-8"))
    scale_x = math.cos(math.radians(46.5))
    polygons: list[tuple[str, str, list[list[tuple[float, float]]]]] = []
    xs, ys = [], []
    for feature in data["features"]:
        geometry = feature["geometry"]
        parts = ([geometry["coordinates"]] if geometry["type"] == "Polygon"
                 else geometry["coordinates"])
        rings = [[(lon * scale_x, -lat) for lon, lat in ring] for part in parts for ring in part]
        for ring in rings:
            xs += [x for x, _ in ring]
            ys += [y for _, y in ring]
        polygons.append((feature["properties"]["code"], feature["properties"]["nom"], rings))
    min_x, min_y = min(xs), min(ys)
    factor = WIDTH / (max(xs) - min_x)
    shapes = []
    for code, label, rings in polygons:
        commands = []
        for ring in rings:
            points, last = [], None
            for x, y in ring:
                p = ((x - min_x) * factor, (y - min_y) * factor)
                if last is None or abs(p[0] - last[0]) + abs(p[1] - last[1]) >= 2.5:
                    points.append(p)
                    last = p
            if len(points) >= 3:
                commands.append("M" + "L".join(f"{x:.0f},{y:.0f}" for x, y in points) + "Z")
        shapes.append((code, label, "".join(commands)))
    return tuple(shapes), (max(ys) - min_y) * factor


def departements(values: dict[str, float], label: str, unit: str = "€ HT") -> dict[str, Any]:
    """A choropleth of the départements: each shape with its shade and its value in words."""
    shapes, height = _shapes("departements-version-simplifiee.geojson")
    known = sorted(v for v in values.values() if v is not None and v > 0)
    # quintile thresholds, so that a few large values do not wash out the others
    bounds = [known[int(len(known) * q / 5)] for q in range(1, 5)] if known else []
    features: list[dict[str, Any]] = []
    located = 0
    for code, name, path in shapes:
        value = values.get(code)
        shade = None
        if value is not None and value > 0 and bounds:
            shade = SHADES[sum(value >= b for b in bounds)]
            located += 1
        features.append({"code": code, "name": name, "path": path, "value": value,
                         "fill": shade or "#f2f2f2"})
    drawn = {code for code, _, _ in shapes}
    return {"features": features, "width": WIDTH, "height": round(height, 1), "label": label,
            "unit": unit, "shades": SHADES, "legend": legend(features),
            # how many shapes show a value: a map without any is not drawn (the page says why)
            "located": located,
            "elsewhere": sorted(c for c, v in values.items()
                                if c not in drawn and v is not None and v > 0)}


def legend(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each shade used, with the lowest and highest value it stands for (read from the values
    themselves: quintile bounds of a few values would name empty classes)."""
    by_shade: dict[str, list[float]] = {}
    for f in features:
        if f["fill"] in SHADES:
            by_shade.setdefault(f["fill"], []).append(f["value"])
    return [{"fill": shade, "low": min(by_shade[shade]), "high": max(by_shade[shade])}
            for shade in SHADES if shade in by_shade]


def communes(values: Mapping[str, float | None], label: str, unit: str = "part") -> dict[str, Any]:
    """The territory's communes that have a value, shaded, over its départements' outlines.

    Only those communes are drawn (a full layer of 1,232 Breton communes would weigh 150 kB).
    Shades are fixed steps for shares (0–20–35–50–65 %), quintiles for other values.
    """
    background, height = _shapes("departements-bretagne.geojson")
    shapes, _ = _shapes("communes-bretagne.geojson")
    known = sorted(v for v in values.values() if v is not None and v > 0)
    # shares: fixed steps, so that maps of different years compare; counts: quintiles
    steps = ((0.2, 0.35, 0.5, 0.65) if unit == "part"
             else tuple(known[int(len(known) * q / 5)] for q in range(1, 5)) if known else ())
    features = []
    for code, name, path in shapes:
        if code not in values:
            continue
        value = values[code]
        fill = "#f2f2f2" if value is None else SHADES[sum(value >= s for s in steps)]
        features.append({"code": code, "name": name, "path": path, "value": value, "fill": fill})
    return {
        "background": [{"code": c, "name": n, "path": p} for c, n, p in background],
        "features": features, "width": WIDTH, "height": round(height, 1), "label": label,
        "unit": unit, "shades": SHADES, "steps": steps, "legend": legend(features),
    }
