"""The command line as a user runs it: French messages, JSON output, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import DEMO


def run(home: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OBSERVATOIRE_HOME": str(home), "COLUMNS": "200", **variables}
    env.pop("OBSERVATOIRE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "observatoire.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_demo_ingests_builds_and_reports(tmp_path: Path) -> None:
    result = run(tmp_path, "demo")
    assert result.returncode == 0, result.stderr
    assert "Entrepôt construit" in result.stdout
    assert "Réconciliation" in result.stdout
    assert "NON" not in result.stdout
    # a second run changes nothing and says so
    again = run(tmp_path, "demo")
    assert again.returncode == 0
    assert again.stdout.count("déjà chargé") == 12 + 5 + 3  # DECP and references, PES, Chorus


def test_status_and_quality_json(tmp_path: Path) -> None:
    assert run(tmp_path, "ingest", str(DEMO / "decp" / "v2")).returncode == 0
    assert run(tmp_path, "build").returncode == 0
    status = json.loads(run(tmp_path, "status", "--json").stdout)
    assert [ld["file_name"] for ld in status["loads"]] == [
        "gip-maximilien_decp-13001845000028-2024-10-06-01.json",
        "megalis_decp-59920013600241-2024-07-09-01.json",
    ]
    recon = {
        r["file_name"]: (r["records_in"], r["kept"], r["duplicates"], r["set_aside"])
        for r in status["warehouse"]["reconciliation"]
    }
    assert recon == {
        "gip-maximilien_decp-13001845000028-2024-10-06-01.json": (17, 16, 0, 1),
        "megalis_decp-59920013600241-2024-07-09-01.json": (5, 5, 0, 0),
    }
    tables = {t["name"]: t["rows"] for t in status["warehouse"]["tables"]}
    assert tables["contracts"] == 21
    quality = json.loads(run(tmp_path, "quality", "--json").stdout)
    assert {r["status"]: r["records"] for r in quality["records"]} == {"kept": 21, "set_aside": 1}
    rules = {(r["rule_id"], r["field"]): r["findings"] for r in quality["by_rule"]}
    assert rules[("TEST_RECORD", "enregistrement")] == 1
    # Maximilien publishes the 10-digit holder SIRET 4781914061 (reference note, defect #11)
    raw = json.loads((DEMO / "decp" / "v2" / status["loads"][0]["file_name"]).read_text())
    short = [
        h["titulaire"]["id"]
        for m in raw["marches"]["marche"]
        for h in m["titulaires"]
        if h["titulaire"]["typeIdentifiant"] == "SIRET" and len(h["titulaire"]["id"]) != 14
    ]
    assert short == ["4781914061", "4781914061"]
    assert rules[("HOLDER_SIRET_FORMAT", "titulaire.id")] == len(short)
    assert {f["file_name"] for f in quality["by_file"]} == set(recon)


def test_status_before_any_build(tmp_path: Path) -> None:
    result = run(tmp_path, "status")
    assert result.returncode == 0
    assert "Aucun entrepôt en service" in result.stdout


def test_quality_without_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    result = run(tmp_path, "quality")
    assert result.returncode == 2
    assert "Aucun entrepôt n'a encore été construit." in result.stderr
    assert "Que faire" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_path(tmp_path: Path) -> None:
    result = run(tmp_path, "ingest", str(tmp_path / "absent.json"))
    assert result.returncode == 2
    assert "Ce chemin n'existe pas." in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_bad_settings_name_the_variable_and_value(tmp_path: Path) -> None:
    memory = run(tmp_path, "build", OBSERVATOIRE_MEMORY_LIMIT="deux Go")
    workers = run(tmp_path, "ingest", str(DEMO / "decp" / "v2"), OBSERVATOIRE_WORKERS="2,5")
    assert (memory.returncode, workers.returncode) == (2, 2)
    assert "« deux Go » n'est pas une taille de mémoire." in memory.stderr
    assert "OBSERVATOIRE_MEMORY_LIMIT" in memory.stderr
    assert "« 2,5 » n'est pas un nombre entier." in workers.stderr
    assert "Où : OBSERVATOIRE_WORKERS" in workers.stderr
    for result in (memory, workers):
        assert "Que faire" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "landing").exists() or not any((tmp_path / "landing").iterdir())


def test_rules_listing(tmp_path: Path) -> None:
    result = run(tmp_path, "rules", "--json")
    rules = json.loads(result.stdout)
    ids = {r["rule_id"] for r in rules}
    assert {"TEST_RECORD", "CPV_PADDED", "DATE_SUFFIX_REMOVED", "DUPLICATE_CONFLICT"} <= ids
    assert all(r["explanation"] and r["hint"] for r in rules)


def test_quality_lists_the_findings_of_a_rule(tmp_path: Path) -> None:
    """`quality --rule` lists each finding with where it comes from (file, record position)."""
    import csv
    import re

    aife = DEMO / "decp" / "v1" / "data.gouv.fr_aife.json"
    assert run(tmp_path, "ingest", str(aife), str(DEMO / "ref" / "cpv_2008_fr.csv")).returncode == 0
    assert run(tmp_path, "build").returncode == 0
    with (DEMO / "ref" / "cpv_2008_fr.csv").open(encoding="utf-8") as fh:
        codes = {row["CODE"][:8] for row in csv.DictReader(fh)}
    expected = []
    for position, record in enumerate(json.loads(aife.read_text())["marches"], start=1):
        digits = re.sub(r"\D", "", (record.get("codeCPV") or "").split("-")[0])
        if len(digits) == 7 and "0" + digits in codes:
            expected.append((position, record["codeCPV"], "0" + digits))
    result = run(tmp_path, "quality", "--rule", "CPV_PADDED", "--limit", "500", "--json")
    report = json.loads(result.stdout)
    assert report["total"] == len(expected) == 89
    got = [(f["position"], f["raw_value"], f["value"]) for f in report["findings"]]
    assert got == expected
    assert expected[0] == (2, "9132100", "09132100")


def test_build_with_nothing_ingested_says_what_to_do(tmp_path: Path) -> None:
    result = run(tmp_path, "build")
    assert result.returncode == 0
    assert "0 marchés" in result.stdout
    assert "aucun enregistrement DECP" in result.stdout
    assert "observatoire ingest CHEMIN" in result.stdout
    assert "Enregistrements : aucun" in run(tmp_path, "quality").stdout


def test_memory_limits_accepted_are_sizes_duckdb_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb

    from observatoire.config import Settings

    con = duckdb.connect()
    for text, expected_bytes in (("1500MB", 1500 * 10**6), ("1.5 GiB", 1.5 * 2**30),
                                 ("2gb", 2 * 10**9), ("800KiB", 800 * 2**10)):
        monkeypatch.setenv("OBSERVATOIRE_MEMORY_LIMIT", text)
        limit = Settings.from_env(tmp_path).memory_limit
        con.execute(f"SET memory_limit = '{limit}'")
        row = con.execute(
            "SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'").fetchone()
        assert row is not None, "DuckDB lists no memory_limit setting"
        low, high = _shown_range(row[0])
        assert low <= expected_bytes < high, (text, row[0])


def _shown_range(text: str) -> tuple[float, float]:
    """The bytes DuckDB's display of a size may stand for: it shows one decimal, truncated
    (1500MB shows as ``1.3 GiB``)."""
    number, unit = text.split()
    scale = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "KB": 10**3, "MB": 10**6, "GB": 10**9}
    return float(number) * scale[unit], (float(number) + 0.1) * scale[unit]


def test_profile_listing_says_payment_indicators_come_where_payments_are_loaded(
    tmp_path: Path,
) -> None:
    # the payment indicators are computed by the payment step where their data is loaded:
    # neither "available" (no grain holds them) nor plainly "missing"; A13 (purchasing
    # programme) has no step: missing
    result = run(tmp_path, "--profile", "generique", "profile")
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[2].strip(): line for line in result.stdout.splitlines()
            if line.count("│") >= 7}
    step = ["avance-versee-pme", "delai-global-paiement", "factures-30-jours",
            "interets-moratoires", "delai-versement-avance", "delai-paiement-sous-traitants",
            "paiements-entreprises-locales", "montants-payes-attribues",
            "publication-des-premier-euro", "allotissement", "retenue-garantie-pme",
            "dematerialisation", "egalite-femmes-hommes"]
    assert all("si chargées" in rows[i] for i in step)
    assert "manquantes" in rows["programmation-achats"]
    assert "13 de plus là où leurs données sont chargées" in result.stdout
    listed = json.loads(run(tmp_path, "--profile", "generique", "profile", "--json").stdout)
    assert sorted(i["id"] for i in listed["indicators"] if i["available_where_loaded"]) \
        == sorted(step)
