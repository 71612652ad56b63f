#!/usr/bin/env python3
"""Benchmark of the indicator step on a national-scale warehouse.

Run it from the project root after ``bench/national_scale.py`` built its warehouse::

    .venv/bin/python bench/indicators.py --home bench/out/home-1000000

It copies the warehouse (the original is left untouched), drops the indicator tables, then
measures in one process and on one connection:

1. **Engine**: the whole indicator step of the profile (fact tables, then every indicator ×
   period × breakdown × basis, targets and statuses): ``compute()``.
2. **Baseline**: one hand-written DuckDB query per computable indicator, straight on the model
   tables (contracts, contract_holders, suppliers, subcontracts, source_records): the headline
   value per year, no breakdown, no coverage, no target.

and prints both times, their ratio and the row counts (target: engine ≤ 10 s at 1,000,000
contracts). Figures are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from observatoire.indicators.compute import compute  # noqa: E402
from observatoire.indicators.profile import load_profile  # noqa: E402
from observatoire.indicators.service import TABLES  # noqa: E402

# Holder facts a hand-written query would join: category and place of each current holder.
_HOLDERS = """(SELECT h.uid, bool_or(s.category = 'PME') AS any_sme,
                count(s.category) = count(*) AS all_known,
                bool_or(s.region_code = '53') AS any_local
               FROM contract_holders h LEFT JOIN suppliers s USING (supplier_key)
               WHERE h.is_current GROUP BY h.uid)"""


def _share(condition: str, population: str = "kind = 'marche'", value: bool = False) -> str:
    measure = "amount" if value else "1"
    return f"""SELECT notification_year,
        sum(CASE WHEN {condition} THEN {measure} ELSE 0 END)
          / nullif(sum(CASE WHEN ({condition}) IS NOT NULL THEN {measure} ELSE 0 END), 0)
        FROM contracts c LEFT JOIN {_HOLDERS} h USING (uid)
        WHERE {population} GROUP BY notification_year"""


SME = "CASE WHEN h.any_sme THEN TRUE WHEN h.all_known THEN FALSE END"

#: indicator id → a hand-written query of its headline value per year.
BASELINE: dict[str, str] = {
    "marches-pme": _share(SME),
    "montant-pme": _share(SME, value=True),
    "nouveaux-titulaires": """WITH d AS (SELECT DISTINCT s.siren, c.notification_date FROM contracts c
        JOIN contract_holders h USING (uid) JOIN suppliers s USING (supplier_key)
        WHERE h.is_current AND s.siren IS NOT NULL AND c.notification_date IS NOT NULL),
        p AS (SELECT *, lag(notification_date) OVER (PARTITION BY siren ORDER BY notification_date) AS prev FROM d)
        SELECT year(notification_date), avg(CASE WHEN prev IS NULL OR prev < notification_date - INTERVAL 3 YEAR THEN 1 ELSE 0 END)
        FROM p GROUP BY 1""",
    "offres-recues": "SELECT notification_year, avg(offers_received), median(offers_received) FROM contracts WHERE kind = 'marche' GROUP BY 1",
    "offre-unique": _share("offers_received = 1"),
    "procedures": "SELECT notification_year, procedure, count(*) * 1.0 / sum(count(*)) OVER (PARTITION BY notification_year) FROM contracts WHERE kind = 'marche' GROUP BY 1, 2",
    "titulaires-distincts": "SELECT c.notification_year, count(DISTINCT s.siren) FROM contracts c JOIN contract_holders h USING (uid) JOIN suppliers s USING (supplier_key) WHERE h.is_current GROUP BY 1",
    "marches-par-titulaire": "SELECT c.notification_year, count(DISTINCT uid) / count(DISTINCT s.siren) FROM contracts c JOIN contract_holders h USING (uid) JOIN suppliers s USING (supplier_key) WHERE h.is_current GROUP BY 1",
    "groupements": _share("grouping_type <> 'Pas de groupement'"),
    "sous-traitance-declaree": _share("subcontracting_declared"),
    "sous-traitance-pme": "SELECT year(notification_date), sum(CASE WHEN k.category = 'PME' THEN amount END) / sum(amount) FROM subcontracts s LEFT JOIN ref_sirene_categories k ON k.siren = left(s.subcontractor_id, 9) GROUP BY 1",
    "marches-innovants": _share("is_innovative"),
    "avance-30": _share("advance_granted AND advance_rate >= 0.3", "kind = 'marche' AND amount_initial > 25000"),
    "avance-pme-au-dela-minimum": _share("advance_rate > 0.1", f"kind = 'marche' AND advance_granted AND {SME}"),
    "prix-revisables": _share("list_has_any(price_types, ['Définitif révisable', 'Définitif actualisable'])"),
    "marches-modifies": _share("modification_count > 0"),
    "hausse-montant-modifications": "SELECT notification_year, sum(amount - amount_initial) / sum(amount_initial) FROM contracts WHERE kind = 'marche' GROUP BY 1",
    "consideration-environnementale": _share("has_environmental_consideration"),
    "consideration-environnementale-montant": _share("has_environmental_consideration", value=True),
    "critere-environnemental": _share("list_contains(environmental_considerations, 'Critère environnemental')"),
    "clause-environnementale": _share("list_contains(environmental_considerations, 'Clause environnementale')"),
    "energies-renouvelables-critere": _share("list_contains(environmental_considerations, 'Critère environnemental')", "kind = 'marche' AND cpv LIKE '0933%'"),
    "origine-france": "SELECT notification_year, sum(origin_fr_share * amount) / sum(amount) FROM contracts WHERE origin_fr_share IS NOT NULL GROUP BY 1",
    "origine-ue": "SELECT notification_year, sum(origin_eu_share * amount) / sum(amount) FROM contracts WHERE origin_eu_share IS NOT NULL GROUP BY 1",
    "consideration-sociale": _share("has_social_consideration"),
    "consideration-sociale-montant": _share("has_social_consideration", value=True),
    "clause-sociale-seuils-europeens": _share("list_contains(social_considerations, 'Clause sociale')", "kind = 'marche' AND amount_initial >= CASE WHEN purchase_category = 'Travaux' THEN 5538000 ELSE 221000 END"),
    "marches-reserves": _share("list_contains(social_considerations, 'Marché réservé')"),
    "montant-marches-reserves": "SELECT notification_year, sum(amount) FROM contracts WHERE list_contains(social_considerations, 'Marché réservé') GROUP BY 1",
    "montant-entreprises-locales": _share("h.any_local", value=True),
    "marches-entreprises-locales": _share("h.any_local"),
    "repartition-departements-titulaires": "SELECT c.notification_year, s.departement_code, sum(c.amount) FROM contracts c JOIN contract_holders h USING (uid) JOIN suppliers s USING (supplier_key) WHERE h.is_current GROUP BY 1, 2",
    "marches-pme-locales": _share(f"{SME} AND h.any_local"),
    "marches-notifies": "SELECT notification_year, count(*), sum(amount) FROM contracts WHERE kind = 'marche' GROUP BY 1",
    "concessions-signees": "SELECT notification_year, count(*), sum(amount) FROM contracts WHERE kind = 'concession' GROUP BY 1",
    "clause-sociale": _share("list_contains(social_considerations, 'Clause sociale')"),
    "publication-deux-mois": _share("publication_date <= notification_date + INTERVAL 2 MONTH", "kind = 'marche' AND amount_initial >= 40000"),
    "qualite-identifiants": "SELECT status, count(*) FROM source_records sr LEFT JOIN (SELECT DISTINCT record_key FROM findings WHERE field IN ('acheteur.id', 'id', 'titulaire.id')) f USING (record_key) GROUP BY 1",
    "qualite-cpv": "SELECT count(*) FILTER (WHERE f.record_key IS NULL) / count(*) FROM source_records sr LEFT JOIN (SELECT DISTINCT record_key FROM findings WHERE field = 'codeCPV') f USING (record_key)",
    "qualite-lieu": "SELECT count(*) FILTER (WHERE f.record_key IS NULL) / count(*) FROM source_records sr LEFT JOIN (SELECT DISTINCT record_key FROM findings WHERE field = 'lieuExecution.code') f USING (record_key)",
    "enregistrements-ecartes": "SELECT avg(CASE WHEN status = 'set_aside' THEN 1 ELSE 0 END) FROM source_records",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--home", type=Path, default=ROOT / "bench" / "out" / "home-1000000",
                        help="data home of a built warehouse (default: bench/out/home-1000000)")
    parser.add_argument("--profile", default="generique")
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: all cores)")
    parser.add_argument("--memory-limit", default="1500MB")
    args = parser.parse_args()
    source = args.home / "warehouse.duckdb"
    if not source.exists():
        sys.exit(f"No warehouse at {source}: run bench/national_scale.py first.")
    profile = load_profile(args.profile)
    computable = {i.id for i in profile.indicators if i.available}
    missing = computable - set(BASELINE)
    if missing:
        sys.exit(f"No baseline query for: {', '.join(sorted(missing))}")
    with tempfile.TemporaryDirectory(dir=args.home) as tmp:
        copy = Path(tmp) / "warehouse.duckdb"
        shutil.copyfile(source, copy)
        con = duckdb.connect(str(copy))
        con.execute(f"SET memory_limit = '{args.memory_limit}'")
        if args.threads:
            con.execute(f"SET threads = {args.threads}")
        for table in TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")
        contracts = con.execute("SELECT count(*) FROM contracts").fetchall()[0][0]
        # warm the cache the same way for both sides
        con.execute("SELECT count(*), sum(amount) FROM contracts").fetchall()
        t0, c0 = time.perf_counter(), time.process_time()
        for ident in sorted(computable):
            con.execute(BASELINE[ident]).fetchall()
        baseline, baseline_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        rows = compute(con, profile)
        engine, engine_cpu = time.perf_counter() - t0, time.process_time() - c0
        con.close()
    figures = {
        "contracts": contracts,
        "indicators": len(computable),
        "result_rows": rows,
        "engine_s": round(engine, 2),
        "baseline_s": round(baseline, 2),
        "ratio": round(engine / baseline, 2),
        # CPU time of the process (all DuckDB threads): less sensitive to other work
        "engine_cpu_s": round(engine_cpu, 2),
        "baseline_cpu_s": round(baseline_cpu, 2),
        "ratio_cpu": round(engine_cpu / baseline_cpu, 2),
        "target_engine_s": 10,
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
