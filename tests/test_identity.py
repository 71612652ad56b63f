"""What one contract is: lots that reuse one id, placeholder ids, consolidated rows (versions,
co-holders, lots), amendment amounts that are deltas, holders published by their SIREN.

The fixtures are cuts of the real files (``tests/fixtures/identity/README.md``). Every expected
value is read from the fixture by the standard library or worked out by hand in the test.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from observatoire.build import build
from observatoire.config import Settings
from observatoire.connectors.ingest import ingest

from .conftest import DEMO

FIXTURES = Path(__file__).parent / "fixtures" / "identity"
REF = DEMO / "ref"
REFERENCES = [REF / "cpv_2008_fr.csv", REF / "code_officiel_geographique_communes.parquet",
              REF / "sirene_categorieEntreprise_titulaires_decp_2022.csv",
              REF / "sirene_etablissements_titulaires_decp_2022.csv"]
LOTS_JSON = "dematis_reused_ids.json"
PLACEHOLDERS_JSON = "dematis_placeholder_ids.json"
ROWS_CSV = "decpinfo_lots_versions.csv"
LOT_UID = re.compile(r"(.+)~[0-9a-f]{8}")


class Home:
    def __init__(self, path: Path) -> None:
        self.con = duckdb.connect(str(path), read_only=True)

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def contracts(self, consultation_uid: str) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM contracts WHERE consultation_uid = ? ORDER BY amount",
                         [consultation_uid])


def _built(home: Path, paths: list[Path]) -> Home:
    settings = Settings(home=home)
    ingest(settings, paths)
    build(settings)
    return Home(settings.warehouse_path)


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    home = _built(tmp_path_factory.mktemp("identity") / "home",
                  [FIXTURES / LOTS_JSON, FIXTURES / PLACEHOLDERS_JSON, FIXTURES / ROWS_CSV,
                   *REFERENCES])
    yield home
    home.con.close()


def _records(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["marches"]


def _rows(uid: str) -> list[dict[str, str]]:
    with (FIXTURES / ROWS_CSV).open(encoding="utf-8", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["uid"] == uid]


# --- lots that reuse one id (native records) -----------------------------------------------------


def test_twelve_lots_of_one_id_are_twelve_contracts(wh: Home) -> None:
    """Buyer 21040049500011, id 20181101: 12 records, 12 holders, 12 amounts. They were one
    contract of 34,973 € holding 11 holders; they are 12 contracts of one holder each."""
    published = [r for r in _records(LOTS_JSON)
                 if (r["acheteur"]["id"], r["id"]) == ("21040049500011", "20181101")]
    assert len(published) == 12
    got = wh.contracts("2104004950001120181101")
    assert [c["amount"] for c in got] == sorted(float(r["montant"]) for r in published)
    assert [c["holder_count"] for c in got] == [1] * 12
    assert [c["record_count"] for c in got] == [1] * 12
    # each lot's uid is the published one, "~", 8 hex digits; all distinct
    assert {LOT_UID.fullmatch(c["uid"]).group(1) for c in got} == {"2104004950001120181101"}  # type: ignore[union-attr]
    assert len({c["uid"] for c in got}) == 12
    # every holder keeps its own lot: holder of the 103,961 € lot (CPV 45223220)
    top = got[-1]
    assert (top["amount"], top["cpv"]) == (103961.0, "45223220")
    assert wh.rows("SELECT holder_id FROM contract_holders WHERE uid = ?", [top["uid"]]) == [
        {"holder_id": "35347141000012"}]


def test_reused_id_is_said_once_per_record(wh: Home) -> None:
    found = wh.rows("""SELECT f.raw_value, f.value, f.severity FROM findings f
                       WHERE f.rule_id = 'ID_REUSED' AND f.file_name = ? ORDER BY f.value""",
                    [LOTS_JSON])
    # 12 lots of 20181101 and 2 of 201907201832500
    assert len(found) == 14
    assert {f["raw_value"] for f in found} == {"2104004950001120181101",
                                               "39159607900023201907201832500"}
    assert all(LOT_UID.fullmatch(f["value"]).group(1) == f["raw_value"]  # type: ignore[union-attr]
               for f in found)
    assert {f["severity"] for f in found} == {"avertissement"}


def test_one_holder_one_day_two_amounts_are_two_lots(wh: Home) -> None:
    """Buyer 39159607900023, id 201907201832500: the same holder, the same day, the same file,
    20,000 € and 200,000 € (« Lot 3 » of a legal-services consultation and another lot)."""
    got = wh.contracts("39159607900023201907201832500")
    assert [c["amount"] for c in got] == [20000.0, 200000.0]
    assert all(c["uid"] != c["consultation_uid"] for c in got)


def test_same_contract_published_twice_still_merges(wh: Home) -> None:
    """Buyer 20005340300057, id 201960486800: two records, same six holders, amount and CPV, the
    object reworded (« Tx » / « Travaux »): one contract, its published uid unchanged."""
    got = wh.contracts("20005340300057201960486800")
    assert len(got) == 1
    c = got[0]
    assert (c["uid"], c["record_count"], c["holder_count"], c["amount"]) == (
        "20005340300057201960486800", 2, 6, 520288.0)


def test_an_id_used_once_keeps_its_uid(wh: Home) -> None:
    assert [c["uid"] for c in wh.contracts("2104004950001120181002")] == [
        "2104004950001120181002"]
    assert wh.rows("SELECT count(*) AS n FROM findings WHERE uid = '2104004950001120181002' "
                   "AND rule_id LIKE 'ID_%'") == [{"n": 0}]


def test_lot_uids_do_not_depend_on_record_order(wh: Home, tmp_path: Path) -> None:
    """The lot uid is derived from the lot's content: the same records in another order (and
    in a file of another name) give the same uids."""
    records = _records(LOTS_JSON)
    reversed_file = tmp_path / "reversed.json"
    reversed_file.write_text(json.dumps({"marches": records[::-1]}, ensure_ascii=False),
                             encoding="utf-8")
    other = _built(tmp_path / "home", [reversed_file, *REFERENCES])
    try:
        mine = wh.rows("""SELECT uid, amount FROM contracts WHERE primary_record_key IN
            (SELECT record_key FROM source_records WHERE file_name = ?) ORDER BY uid""",
                       [LOTS_JSON])
        assert other.rows("SELECT uid, amount FROM contracts ORDER BY uid") == mine
        assert sum(1 for c in mine if "~" in c["uid"]) == 12 + 2
    finally:
        other.con.close()


# --- placeholder ids ------------------------------------------------------------------------------


def test_placeholder_ids_merge_nothing(wh: Home) -> None:
    """Id "0" on two different lots and on the first lot published again; id "sans objet" on a
    third record: three contracts, the repeated publication merged into its contract."""
    zero = wh.contracts("210400495000110")
    first, second, again = _records(PLACEHOLDERS_JSON)[:3]
    assert first == again
    assert [(c["amount"], c["record_count"]) for c in zero] == sorted(
        [(float(first["montant"]), 2), (float(second["montant"]), 1)])
    assert all(LOT_UID.fullmatch(c["uid"]) for c in zero)
    sans_objet = wh.contracts("21040049500011sans_objet")
    assert len(sans_objet) == 1
    assert LOT_UID.fullmatch(sans_objet[0]["uid"])
    found = wh.rows("SELECT position, raw_value FROM findings WHERE rule_id = 'ID_PLACEHOLDER' "
                    "AND file_name = ? ORDER BY position", [PLACEHOLDERS_JSON])
    assert found == [{"position": 1, "raw_value": "210400495000110"},
                     {"position": 2, "raw_value": "210400495000110"},
                     {"position": 3, "raw_value": "210400495000110"},
                     {"position": 4, "raw_value": "21040049500011sans_objet"}]


# --- consolidated rows: versions, co-holders, lots ------------------------------------------------


def test_rows_of_one_date_with_their_own_holder_amount_and_offers_are_lots(wh: Home) -> None:
    """uid 690802053000232024TVX24LO: two holders, two amounts, two offer counts, one date.
    It was one contract with an invented modification; it is two contracts."""
    rows = _rows("690802053000232024TVX24LO")
    got = wh.contracts("690802053000232024TVX24LO")
    assert [c["amount"] for c in got] == sorted(float(r["montant"]) for r in rows)
    assert [c["offers_received"] for c in got] == [3, 2]
    assert [c["modification_count"] for c in got] == [0, 0]
    assert [c["holder_count"] for c in got] == [1, 1]


def test_an_id_reused_for_six_rows(wh: Home) -> None:
    """uid 77918639400028202, 6 rows (21 k€ to 17.7 M€), worked out by hand: the rows that share
    CPV, procedure, offers and holder are one contract and its later version (21,000 € on
    2024-11-07 then 990,623.12 € on 2025-01-01; 161,759.82 € on 2024-11-08 then 246,060 € on
    2024-12-05); the two others are contracts of their own. 4 contracts, not one contract with
    5 modifications."""
    got = wh.contracts("77918639400028202")
    assert [(c["amount_initial"], c["amount"], c["modification_count"]) for c in got] == [
        (37363.0, 37363.0, 0),
        (161759.82, 246060.0, 1),
        (21000.0, 990623.12, 1),
        (17685670.25, 17685670.25, 0),
    ]


def test_co_holders_repeated_at_each_version(wh: Home) -> None:
    """uid 759200751001302023100502N0: 2 holders × 5 dates, the amount rising from 74,801.45 €
    (2024-10-01) to 78,937.45 € (2024-12-23): one contract, two holders, four versions (the
    2024-12-09 and 2024-12-23 rows both carry 78,937.45 €)."""
    rows = _rows("759200751001302023100502N0")
    assert len(rows) == 10 and len({r["titulaire_id"] for r in rows}) == 2
    got = wh.contracts("759200751001302023100502N0")
    assert [(c["uid"], c["amount_initial"], c["amount"], c["holder_count"],
             c["modification_count"]) for c in got] == [
        ("759200751001302023100502N0", 74801.45, 78937.45, 2, 4)]


def test_rows_of_other_holders_and_amounts_are_other_contracts(wh: Home) -> None:
    """uid 200040566000162024M: 5 rows, 5 holders, 5 amounts on 3 dates: 5 contracts."""
    rows = _rows("200040566000162024M")
    got = wh.contracts("200040566000162024M")
    assert [c["amount"] for c in got] == sorted(float(r["montant"]) for r in rows)
    assert sum(c["modification_count"] for c in got) == 0


def test_rows_are_versions_only_when_they_say_so(tmp_path: Path) -> None:
    """A file with the modification_id column: rows are versions when their id is not 0
    (759200751001302023100502N0: ids 1 to 4, four versions); two rows of another date with id 0
    (21780586000012202409A: 2024-08-01 and 2024-12-31, same holder and amount) are the same
    contract published twice, not an invented modification: the earliest is kept, the other
    date is said."""
    home = _built(tmp_path / "home", [FIXTURES / "decpinfo_modification_id.csv",
                                      REF / "cpv_2008_fr.csv"])
    try:
        got = home.contracts("759200751001302023100502N0")
        assert [(c["amount_initial"], c["amount"], c["holder_count"], c["modification_count"])
                for c in got] == [(74801.45, 78937.45, 2, 4)]
        got = home.contracts("21780586000012202409A")
        assert [(str(c["notification_date"]), c["amount"], c["modification_count"],
                 c["record_count"]) for c in got] == [("2024-08-01", 61066.0, 0, 2)]
        assert home.rows("""SELECT rule_id, raw_value FROM findings
            WHERE uid = '21780586000012202409A' ORDER BY rule_id""") == [
            {"rule_id": "DUPLICATE_CONFLICT",
             "raw_value": "notification 2024-12-31 ≠ 2024-08-01 retenue"},
            {"rule_id": "DUPLICATE_IN_SOURCE", "raw_value": "21780586000012202409A"}]
    finally:
        home.con.close()


# --- amendment amounts that are deltas ------------------------------------------------------------


def test_amendment_amount_read_as_a_delta(wh: Home) -> None:
    """uid 2104000160001520180801: 30,000 €, then « AVENANT N°01 » with montant 308. As a new
    total it would cut the amount by 99 %: it is read as a delta, 30,000 + 308 = 30,308 €."""
    versions = wh.rows("""SELECT version, amount, amount_reading, amount_after
        FROM contract_versions WHERE uid = '2104000160001520180801' ORDER BY version""")
    assert versions == [
        {"version": 0, "amount": 30000.0, "amount_reading": "total", "amount_after": 30000.0},
        {"version": 1, "amount": 308.0, "amount_reading": "delta", "amount_after": 30308.0},
    ]
    assert wh.contracts("2104000160001520180801")[0]["amount"] == 30000.0 + 308.0
    assert wh.rows("""SELECT raw_value, value FROM findings
        WHERE rule_id = 'MODIFICATION_AMOUNT_AS_DELTA'""") == [
        {"raw_value": "308.0", "value": "30308.0"}]


# --- holders published by their SIREN -------------------------------------------------------------


def test_holder_published_by_its_siren_gets_its_category(wh: Home) -> None:
    """Holder 796820173 (9 digits, no type) of 217100478000152024T00012: its SIRENE category
    is the one the reference extract gives its SIREN."""
    with (REF / "sirene_categorieEntreprise_titulaires_decp_2022.csv").open(
            encoding="utf-8", newline="") as fh:
        expected = {r["categorieEntreprise"] for r in csv.DictReader(fh)
                    if r["siren"] == "796820173"}
    assert expected == {"PME"}
    assert wh.rows("SELECT siren, category FROM suppliers WHERE holder_id = '796820173'") == [
        {"siren": "796820173", "category": "PME"}]
    assert wh.contracts("217100478000152024T00012")[0]["holder_categories"] == ["PME"]


# --- the holder's place as a consolidated file publishes it ------------------------------------


def test_holder_place_published_by_the_consolidated_file(wh: Home) -> None:
    """Holder 50093123300026 (uid 690802053000232024TVX24LO) is not in the SIRENE extract: its
    département and région are those of its row, said to come from the publication. Holder
    33832262100024 is: its place stays SIRENE's (its commune in the COG)."""
    with (REF / "sirene_etablissements_titulaires_decp_2022.csv").open(
            encoding="utf-8", newline="") as fh:
        communes = {r["siret"]: r["codeCommuneEtablissement"] for r in csv.DictReader(fh)}
    assert "50093123300026" not in communes
    row = next(r for r in _rows("690802053000232024TVX24LO")
               if r["titulaire_id"] == "50093123300026")
    assert wh.rows("""SELECT departement_code, region_code, location_source FROM suppliers
                      WHERE holder_id = '50093123300026'""") == [
        {"departement_code": row["titulaire_departement_code"],
         "region_code": row["titulaire_region_code"], "location_source": "publication"}]
    with (REF / "code_officiel_geographique_communes.csv").open(
            encoding="utf-8", newline="") as fh:
        cog = {r["commune_code"]: r for r in csv.DictReader(fh)}
    commune = cog[communes["33832262100024"]]
    assert wh.rows("""SELECT departement_code, region_code, location_source FROM suppliers
                      WHERE holder_id = '33832262100024'""") == [
        {"departement_code": commune["departement_code"],
         "region_code": commune["region_code"], "location_source": "sirene"}]
    # a row without a place, a holder SIRENE does not place: unknown, not guessed
    assert wh.rows("""SELECT departement_code, location_source FROM suppliers
                      WHERE holder_id = '796820173'""") == [
        {"departement_code": None, "location_source": None}]
