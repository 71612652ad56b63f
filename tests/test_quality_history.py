"""The quality history through real builds: a snapshot per scope at each build put in service,
findings opened and closed from one build to the next, nothing recorded by a failed build.

Two builds of the demo's DECP 2024 files with, in between, a steward's correction and a new
source file. The expected numbers are computed here from each warehouse with plain SQL and
Python sets (a finding is followed by its contract, rule, field and published value); the
history is read from the catalog (SQLite) as it is stored.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pytest

from observatoire import build as build_module
from observatoire.build import build
from observatoire.config import Settings
from observatoire.connectors.ingest import ingest
from tests.conftest import DEMO, FIXTURES, AppDb, make_account

pytestmark = pytest.mark.appdb

GIP_FILE = DEMO / "decp" / "v2" / "gip-maximilien_decp-13001845000028-2024-10-06-01.json"
MEGALIS_FILE = DEMO / "decp" / "v2" / "megalis_decp-59920013600241-2024-07-09-01.json"
GIP = "13001845000028"
MEGALIS = "59920013600241"
UID = GIP + "D2F2020S0757302"  # published with montant 0.0
PROFILE = FIXTURES / "profiles" / "directions"


def _state(settings: Settings) -> dict[str, Any]:
    """What the warehouse in service says, worked out in Python from its rows."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        findings = con.execute(
            """SELECT COALESCE(uid, record_key), rule_id, field, raw_value, uid, severity,
                      buyer_siret FROM findings""").fetchall()
        dismissed = {tuple(r) for r in con.execute(
            """SELECT uid, rule_id, field, source_value FROM corrections_applied
               WHERE action = 'not_a_defect' AND status = 'applied'""").fetchall()}
        contracts = con.execute(
            """SELECT uid, buyer_siret, amount_initial, cpv, notification_date_source,
                      holder_count, place_code FROM contracts""").fetchall()
        applied = con.execute("SELECT count(*) FROM corrections_applied "
                              "WHERE status = 'applied'").fetchall()[0][0]
    finally:
        con.close()
    open_ = {(k, r, f, v): (uid, sev, buyer) for k, r, f, v, uid, sev, buyer in findings
             if (uid, r, f, v) not in dismissed}
    severities = {}
    for uid, sev, _ in open_.values():
        severities.setdefault(uid, set()).add(sev)
    known = sum(
        (amount is not None) + (cpv is not None) + (date_source == "notification")
        + (holders > 0) + (place is not None)
        for _, _, amount, cpv, date_source, holders, place in contracts)
    return {
        "open": open_, "contracts": len(contracts), "known_fields": known,
        "valid": sum(1 for c in contracts
                     if not severities.get(c[0], set()) & {"bloquant", "avertissement"}),
        "warning": sum(1 for c in contracts if "avertissement" in severities.get(c[0], set())),
        "applied": applied,
        "by_buyer": {b: sum(1 for c in contracts if c[1] == b) for b in {c[1] for c in contracts}},
    }


def _catalog(settings: Settings, sql: str, params: list[Any] | None = None) -> list[Any]:
    with sqlite3.connect(settings.catalog_path) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(sql, params or []).fetchall()]


def test_two_builds_a_correction_and_a_new_file(
    tmp_path: Path, application_database: AppDb, no_corrections: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from observatoire.stewardship.services import correct

    settings = replace(application_database.settings(tmp_path / "home"), profile=str(PROFILE))
    ingest(settings, [GIP_FILE])
    first = build(settings)
    one = _state(settings)
    # a steward corrects the zero amount, and a second buyer's file arrives
    steward = make_account("steward-history", "gestionnaire", "acheteur:130018450").user
    correct(steward, uid=UID, buyer_siret=GIP, action="set_value", field="montant",
            source_value="0.0", new_value="48500", reason="Acte d'engagement", based_on=None)
    ingest(settings, [MEGALIS_FILE])
    second = build(settings)
    two = _state(settings)

    builds = _catalog(settings, "SELECT * FROM quality_builds ORDER BY build_id")
    assert [(b["build_id"], b["compared_with"]) for b in builds] == [
        (first.build_id, None), (second.build_id, first.build_id)]
    rows = {(r["build_id"], r["scope_kind"], r["scope_id"]): r for r in _catalog(
        settings, "SELECT * FROM quality_history")}
    total_one = rows[(first.build_id, "total", "")]
    assert total_one["contracts"] == one["contracts"]
    assert total_one["open_findings"] == len(one["open"])
    assert total_one["findings_opened"] is None and total_one["findings_closed"] is None
    total = rows[(second.build_id, "total", "")]
    opened = set(two["open"]) - set(one["open"])
    closed = set(one["open"]) - set(two["open"])
    assert closed and opened
    # the correction closed the zero-amount finding of the corrected contract
    assert any(key[0] == UID and key[2] == "montant" for key in closed)
    assert total["contracts"] == two["contracts"] == one["contracts"] + two["by_buyer"][MEGALIS]
    assert total["open_findings"] == len(two["open"])
    assert total["findings_opened"] == len(opened) and total["findings_closed"] == len(closed)
    assert total["open_findings"] == total_one["open_findings"] + len(opened) - len(closed)
    assert total["corrections_applied"] == two["applied"] == 1
    assert total["contracts_valid"] == two["valid"]
    assert total["contracts_warning"] == two["warning"]
    assert sum(total[k] for k in ("with_amount", "with_cpv", "with_notification_date",
                                  "with_holders", "with_place")) == two["known_fields"]
    # per buyer: the new buyer opened all of its findings, the GIP closed the corrected one
    megalis = rows[(second.build_id, "buyer", MEGALIS)]
    assert (first.build_id, "buyer", MEGALIS) not in rows
    assert megalis["findings_opened"] == sum(1 for v in two["open"].values() if v[2] == MEGALIS)
    gip = rows[(second.build_id, "buyer", GIP)]
    assert gip["findings_closed"] == len(closed) and gip["corrections_applied"] == 1
    # per directorate (the Mégalis buyer rule of the test profile)
    assert rows[(second.build_id, "directorate", "numerique")]["contracts"] == \
        two["by_buyer"][MEGALIS]

    # a failed build (here: at the very end, its warehouse cannot be put in service) records
    # nothing, although its snapshot was computed
    def broken(tmp: Path, settings: Settings) -> None:
        raise OSError("disque plein")

    monkeypatch.setattr(build_module, "swap_in", broken)
    with pytest.raises(OSError):
        build(settings)
    monkeypatch.undo()
    assert len(_catalog(settings, "SELECT * FROM quality_builds")) == 2
    assert len(_catalog(settings, "SELECT * FROM quality_history")) == len(rows)

    # a build that changes nothing records the build but no row: its series carries the last
    # numbers forward, with nothing opened or closed
    third = build(settings)
    assert not _catalog(settings, "SELECT * FROM quality_history WHERE build_id = ?",
                        [third.build_id])
    from observatoire.stewardship.queue import quality_series

    series = quality_series(settings, "total", "")
    assert [s["build_id"] for s in series] == [first.build_id, second.build_id, third.build_id]
    assert series[2]["open_findings"] == series[1]["open_findings"] == len(two["open"])
    assert (series[2]["findings_opened"], series[2]["findings_closed"]) == (0, 0)
    assert series[1]["findings_closed"] == len(closed)
    assert series[1]["validity"] == two["valid"] / two["contracts"]
    # a buyer given by its SIREN: the sum of its SIRETs, from the build it first appeared in
    by_siren = quality_series(settings, "buyer", MEGALIS[:9])
    assert [s["build_id"] for s in by_siren] == [second.build_id, third.build_id]
    assert by_siren[0]["contracts"] == two["by_buyer"][MEGALIS]


def test_the_dashboard_shows_the_history_of_a_scope(
    tmp_path: Path, application_database: AppDb, no_corrections: None,
) -> None:
    import os

    settings = replace(application_database.settings(tmp_path / "home"), profile=str(PROFILE))
    ingest(settings, [GIP_FILE])
    build(settings)
    ingest(settings, [MEGALIS_FILE])
    build(settings)
    before = os.environ.get("OBSERVATOIRE_HOME")
    os.environ["OBSERVATOIRE_HOME"] = str(settings.home)
    try:
        from django.test import Client

        reader = Client()
        reader.force_login(make_account("lecteur-history", "lecteur").user)
        page = reader.get("/gestion/tableau/").content.decode()
        steward = Client()
        steward.force_login(make_account("steward-numerique", "gestionnaire",
                                         "direction:numerique", directorates={
                                             "numerique": "Direction du numérique"}).user)
        own = steward.get("/gestion/tableau/").content.decode()
    finally:
        if before is not None:
            os.environ["OBSERVATOIRE_HOME"] = before
    two = _state(settings)
    assert "Tous les marchés de l" in page
    assert page.count("<td>n° ") == 2 and 'aria-labelledby="courbe-validite"' in page
    assert f'<td class="num">{two["contracts"]}</td>' in page
    # the steward of a directorate sees its own series: the Mégalis contracts, one build
    assert "Direction Direction du numérique" in own and own.count("<td>n° ") == 1
    assert f'<td class="num">{two["by_buyer"][MEGALIS]}</td>' in own


def test_findings_carry_the_key_the_history_follows_them_by(demo_warehouse: Any) -> None:
    """``findings.follow_key`` (written by the build) is the digest the history computes for a
    warehouse built before the column existed: both give the same open findings."""
    from observatoire.quality.history import _open_keys

    con = demo_warehouse.con
    stored = con.execute(_open_keys("main", True, follow_key=True)).fetchall()
    digested = con.execute(_open_keys("main", True, follow_key=False)).fetchall()
    distinct = con.execute("SELECT count(DISTINCT follow_key) FROM findings").fetchone()
    assert sorted(stored, key=str) == sorted(digested, key=str)
    assert distinct is not None and len(stored) >= distinct[0] > 1000
