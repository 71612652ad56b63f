#!/usr/bin/env python3
"""Cost of the best known place: its counts on the explorer, and its share of the build.

Run it from the project root on a built data home (``bench/national_scale.py`` writes one)::

    .venv/bin/python bench/places.py --home bench/out/home-1000000

1. **Read side.** For each filter set of the explorer, in one process and one run: a raw
   baseline (``SELECT location_departement_code, count(*) FROM contracts WHERE <the same
   filters> GROUP BY 1``: the plainest count of the selection by place, one scan), the
   explorer's page (``explorer.search`` with its facets, what
   a page cost before the place counts) and the place counts (``explorer.places``, its cache
   cleared before each call: always computed). Median of ``--repeats`` runs each, and the
   ratios place counts / baseline and place counts / page.
2. **Build side.** The per-contract aggregation of the holders the model runs
   (``model.contracts.CONTRACTS``'s ``hold``), without and with the first placed holder it now
   also picks, on the warehouse's ``contract_holders`` and ``suppliers``: the ratio is what the
   place adds to that part of the build.

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from observatoire import explorer  # noqa: E402
from observatoire.config import Settings  # noqa: E402
from observatoire.warehouse import open_warehouse  # noqa: E402

CASES = {
    "sans filtre": {},
    "année": {"annee": "2019"},
    "département du lieu": {"lieu_departement": "75"},
    "région du lieu + montant": {"lieu_region": "84", "montant_min": "100000"},
    "texte libre « travaux »": {"texte": "travaux"},
}

HOLD = """
SELECT h.uid, count(*) FILTER (WHERE h.is_current) AS holder_count,
    list_sort(list_distinct(list(s.category)
        FILTER (WHERE h.is_current AND s.category IS NOT NULL))) AS holder_categories,
    list_sort(list_distinct(list(s.departement_code)
        FILTER (WHERE h.is_current AND s.departement_code IS NOT NULL))) AS holder_departements
    {place}
FROM contract_holders h LEFT JOIN suppliers s ON s.supplier_key = h.supplier_key
GROUP BY h.uid
"""
PLACE = """, arg_min(struct_pack(
        commune := CASE WHEN s.location_source = 'sirene' THEN s.commune_code END,
        departement := s.departement_code, region := s.region_code), h.rowid)
    FILTER (WHERE h.is_current AND (s.departement_code IS NOT NULL
                                    OR s.region_code IS NOT NULL)) AS holder_place"""


def _median_ms(run: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def read_side(settings: Settings, repeats: int) -> list[dict[str, Any]]:
    out = []
    for name, query in CASES.items():
        filters, _ = explorer.ContractFilters.from_query(query)
        where, params = explorer._where(filters)

        def baseline(where: str = where, params: list[Any] = params) -> None:
            con = open_warehouse(settings)
            try:
                sql = (f"SELECT c.location_departement_code, count(*) FROM contracts c "  # noqa: S608
                       f"{explorer._joins(where)} WHERE {where} GROUP BY 1")
                con.execute(sql, params).fetchall()
            finally:
                con.close()

        def places(filters: explorer.ContractFilters = filters) -> None:
            explorer._PLACES.clear()
            explorer.places(settings, filters)

        def page(filters: explorer.ContractFilters = filters) -> None:
            explorer.search(settings, filters, facets=True)

        places()  # warm the files' pages once, as a running server has them
        base, page_ms, places_ms = (_median_ms(f, repeats) for f in (baseline, page, places))
        out.append({"case": name, "baseline_ms": base, "page_ms": page_ms,
                    "place_counts_ms": places_ms,
                    "place_counts_over_baseline": round(places_ms / base, 2),
                    "place_counts_over_page": round(places_ms / page_ms, 2)})
    return out


def build_side(settings: Settings, repeats: int) -> dict[str, Any]:
    con = open_warehouse(settings)
    try:
        without = _median_ms(lambda: con.execute(
            f"SELECT count(*) FROM ({HOLD.format(place='')})").fetchall(),  # noqa: S608
            repeats)
        with_place = _median_ms(lambda: con.execute(
            f"SELECT count(*) FROM ({HOLD.format(place=PLACE)})").fetchall(),  # noqa: S608
            repeats)
        holders = con.execute("SELECT count(*) FROM contract_holders").fetchall()[0][0]
    finally:
        con.close()
    return {"contract_holders": holders, "hold_ms": without, "hold_with_place_ms": with_place,
            "ratio": round(with_place / without, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=ROOT / "bench" / "out" / "home-1000000")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    settings = Settings(home=args.home)
    con = open_warehouse(settings)
    try:
        contracts = con.execute("SELECT count(*) FROM contracts").fetchall()[0][0]
    finally:
        con.close()
    print(json.dumps({"home": str(args.home), "contracts": contracts,
                      "read_side": read_side(settings, args.repeats),
                      "build_side": build_side(settings, args.repeats)},
                     ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
