"""A profile limited to its own buyers publishes only their contracts: explorer, entity pages,
opportunities, lists and downloads (a Région's site does not show other buyers' contracts)."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from observatoire import datasets, details, explorer
from observatoire.build import build
from observatoire.config import Settings
from observatoire.connectors.ingest import ingest
from tests.conftest import DEMO

FILES = [DEMO / "decp" / "v1" / "e-marchespublics.json", DEMO / "decp" / "v2",
         DEMO / "ref" / "cpv_2008_fr.csv"]


@pytest.fixture(scope="module")
def scoped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str, str]:
    """A warehouse built with a profile whose scope is the largest buyer of the files."""
    home = tmp_path_factory.mktemp("scope")
    plain = Settings(home=home / "all")
    ingest(plain, FILES)
    build(plain)
    con = duckdb.connect(str(plain.warehouse_path), read_only=True)
    siren, other = (r[0] for r in con.execute(
        """SELECT left(buyer_siret, 9), count(*) FROM contracts GROUP BY 1
           ORDER BY 2 DESC, 1 LIMIT 2""").fetchall())
    con.close()
    profile = home / "profil"
    profile.mkdir()
    (profile / "profile.toml").write_text(
        f'extends = "generique"\nid = "essai"\nname = "Essai"\nscope = "profile_buyers"\n'
        f'[[buyers]]\nsiren = "{siren}"\nname = "Acheteur du périmètre"\nrole = "organisation"\n',
        encoding="utf-8")
    settings = replace(Settings(home=home / "scoped"), profile=str(profile))
    ingest(settings, FILES)
    build(settings)
    return settings, siren, other


def _expected(settings: Settings, sql: str, siren: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, [siren]).fetchall()
    finally:
        con.close()


def test_explorer_lists_only_the_scope(scoped: tuple[Settings, str, str]) -> None:
    settings, siren, _ = scoped
    (count, total), = _expected(
        settings, "SELECT count(*), sum(amount) FROM contracts WHERE left(buyer_siret, 9) = ?",
        siren)
    found = explorer.search(settings, explorer.ContractFilters(), page_size=500)
    assert found["count"] == count and found["amount_total"] == pytest.approx(float(total or 0))
    assert {r["buyer_siret"][:9] for r in found["contracts"]} == {siren}
    buyers = explorer.buyers(settings)
    assert {r["buyer_siret"][:9] for r in buyers["rows"]} == {siren}


def test_pages_outside_the_scope_are_not_found(scoped: tuple[Settings, str, str]) -> None:
    settings, siren, other = scoped
    (inside, uid_in), (outside, uid_out) = (
        _expected(settings, "SELECT buyer_siret, uid FROM contracts WHERE left(buyer_siret, 9) = ? "
                  "ORDER BY uid LIMIT 1", s)[0] for s in (siren, other))
    assert details.buyer(settings, inside) is not None
    assert details.buyer(settings, outside) is None
    assert details.contract(settings, uid_in) is not None
    assert details.contract(settings, uid_out) is None
    holders_out = _expected(
        settings, """SELECT h.supplier_key FROM contract_holders h JOIN contracts c USING (uid)
                     WHERE h.is_current GROUP BY 1
                     HAVING bool_and(left(c.buyer_siret, 9) <> ?) LIMIT 1""", siren)
    assert holders_out  # the files hold suppliers that only worked for other buyers
    # such a supplier has no page on this site
    assert details.supplier(settings, str(holders_out[0][0])) is None
    # a supplier that worked inside and outside the scope: its page counts the inside only
    (key, inside_count), = _expected(
        settings, """SELECT h.supplier_key, count(*) FILTER (WHERE left(c.buyer_siret, 9) = $1)
                     FROM contract_holders h JOIN contracts c USING (uid) WHERE h.is_current
                     GROUP BY 1 HAVING bool_or(left(c.buyer_siret, 9) = $1)
                         AND bool_or(left(c.buyer_siret, 9) <> $1)
                     ORDER BY 1 LIMIT 1""", siren)
    page = details.supplier(settings, str(key))
    assert page is not None
    assert sum(y["contracts"] for y in page["by_year"]) == inside_count
    assert all(b["buyer_siret"][:9] == siren for b in page["buyers"])
    listed = {r["supplier_key"] for r in explorer.suppliers(settings, page_size=500)["rows"]}
    expected = {k for (k,) in _expected(
        settings, """SELECT DISTINCT h.supplier_key FROM contract_holders h JOIN contracts c
                     USING (uid) WHERE h.is_current AND left(c.buyer_siret, 9) = ?""", siren)}
    assert listed == expected


def test_downloads_and_opportunities_follow_the_scope(scoped: tuple[Settings, str, str]) -> None:
    settings, siren, _ = scoped
    (count,), = _expected(
        settings, "SELECT count(*) FROM contracts WHERE left(buyer_siret, 9) = ?", siren)
    path = datasets.export(settings, "marches", "csv")
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:  # headed in French, BOM
        rows = list(csv.DictReader(fh))
    assert len(rows) == count and {r["SIRET de l'acheteur"][:9] for r in rows} == {siren}
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        start = con.execute("SELECT min(estimated_end_date) FROM contracts").fetchone()[0]
        ending = con.execute(
            """SELECT count(*) FROM contracts WHERE left(buyer_siret, 9) = ?
               AND estimated_end_date >= ? AND estimated_end_date < ? + INTERVAL 60 MONTH""",
            [siren, start, start]).fetchone()[0]
    finally:
        con.close()
    soon = explorer.upcoming(settings, start, months=60, page_size=500)
    assert soon["count"] == ending > 0
    assert all(r["buyer_siret"][:9] == siren for r in soon["contracts"])
