"""The warehouse built from the real demo files: known facts, reconciliation, model rules."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from observatoire.config import Settings

from .conftest import DEMO, Warehouse

V1 = {
    # file: (records, distinct (acheteur.id, id) keys, keys repeated) — shared/data/README.md
    "data.gouv.fr_aife.json": (4530, 4269, 190),
    "data.gouv.fr_pes.json": (1148, 1140, 7),
    "e-marchespublics.json": (470, 441, 11),
}
TABULAR = "decpinfo_tabular_2024H2_travaux_cpv4521.csv"


def _v1_records(name: str) -> list[dict]:
    return json.loads((DEMO / "decp" / "v1" / name).read_text(encoding="utf-8"))["marches"]


def _party_id(record: dict) -> str | None:
    party = record.get("acheteur") or record.get("autoriteConcedante") or {}
    return party.get("id")


@pytest.mark.parametrize("name", sorted(V1))
def test_known_key_counts_reproduced(demo_warehouse: Warehouse, name: str) -> None:
    records, keys, repeated = V1[name]
    raw = _v1_records(name)
    counted = Counter((_party_id(r), r.get("id")) for r in raw)
    # the README's facts, recomputed from the file with the standard library...
    assert (len(raw), len(counted), sum(1 for n in counted.values() if n > 1)) == (
        records, keys, repeated)
    # ...and found again in the warehouse's raw columns
    got = demo_warehouse.rows(
        """SELECT count(*), count(DISTINCT (raw_buyer_id, raw_id)) FROM source_records
           WHERE file_name = ?""", [name])[0]
    assert got == (records, keys)


def test_tabular_contract_count(demo_warehouse: Warehouse) -> None:
    with (DEMO / "decp" / "tabular" / TABULAR).open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert (len(rows), len({r["uid"] for r in rows})) == (8957, 5180)
    got = demo_warehouse.rows(
        "SELECT count(*), count(DISTINCT raw_uid) FROM source_records WHERE file_name = ?",
        [TABULAR])
    assert got[0] == (8957, 5180)


def test_every_file_reconciles(demo_warehouse: Warehouse) -> None:
    expected = {name: v[0] for name, v in V1.items()} | {
        TABULAR: 8957,
        "megalis_decp-59920013600241-2024-07-09-01.json": 5,
        "gip-maximilien_decp-13001845000028-2024-10-06-01.json": 17,
    }
    rows = demo_warehouse.rows(
        "SELECT file_name, records_in, kept, duplicates, set_aside, balanced FROM reconciliation")
    assert {r[0]: r[1] for r in rows} == expected
    for name, records_in, kept, duplicates, set_aside, balanced in rows:
        assert records_in == kept + duplicates + set_aside, name
        assert balanced
    # every kept record is exactly one contract
    assert demo_warehouse.value("SELECT count(*) FROM contracts") == demo_warehouse.value(
        "SELECT count(*) FROM source_records WHERE status = 'kept'")


def test_every_set_aside_record_says_why(demo_warehouse: Warehouse) -> None:
    assert demo_warehouse.value(
        "SELECT count(*) FROM source_records WHERE status = 'set_aside' AND len(reasons) = 0") == 0
    # and the reasons are blocking rules of the catalogue
    reasons = {r for (r,) in demo_warehouse.rows(
        "SELECT DISTINCT unnest(reasons) FROM source_records WHERE status = 'set_aside'")}
    blocking = {r for (r,) in demo_warehouse.rows(
        "SELECT rule_id FROM quality_rules WHERE severity = 'bloquant'")}
    assert reasons and reasons <= blocking


def test_aife_test_records_are_set_aside(demo_warehouse: Warehouse) -> None:
    """The AIFE publisher's test buyer "Essentiel" went live: 77 records, none counted."""
    raw = _v1_records("data.gouv.fr_aife.json")
    positions = [i for i, r in enumerate(raw, start=1)
                 if ((r.get("acheteur") or r.get("autoriteConcedante") or {}).get("nom")
                     == "Essentiel")]
    assert len(positions) == 77
    statuses = demo_warehouse.rows(
        """SELECT position, status, list_contains(reasons, 'TEST_RECORD') FROM source_records
           WHERE file_name = 'data.gouv.fr_aife.json' AND raw_buyer_name = 'Essentiel'
           ORDER BY position""")
    assert [s[0] for s in statuses] == positions
    assert all(s[1] == "set_aside" and s[2] for s in statuses)


def test_maximilien_test_avenant_is_set_aside(demo_warehouse: Warehouse) -> None:
    """objet "test avenant" whose holder is the buyer's own SIREN (130018450)."""
    row = demo_warehouse.rows(
        """SELECT status, reasons FROM source_records
           WHERE raw_id = 'D2F0000502' AND raw_buyer_id = '13001845000028'""")
    assert row == [("set_aside", ["TEST_RECORD"])]


def test_pes_timezone_suffix_repaired(demo_warehouse: Warehouse) -> None:
    raw = _v1_records("data.gouv.fr_pes.json")
    with_suffix = sum(1 for r in raw if re.search(r"[+-]\d\d:\d\d$", r["dateNotification"]))
    assert with_suffix == 1148
    rows = demo_warehouse.rows(
        """SELECT count(*) FROM findings WHERE rule_id = 'DATE_SUFFIX_REMOVED'
           AND field = 'dateNotification' AND file_name = 'data.gouv.fr_pes.json'""")
    assert rows == [(1148,)]
    # the first PES record: "2018-12-17+01:00" -> 2018-12-17
    assert demo_warehouse.value(
        "SELECT CAST(notification_date AS VARCHAR) FROM contracts WHERE uid = ?",
        ["130018989000172019I1703000"]) == "2018-12-17"


def test_aife_broken_encoding_flagged(demo_warehouse: Warehouse) -> None:
    """3,170 AIFE objets carry U+FFFD (shared/data/README.md)."""
    raw = _v1_records("data.gouv.fr_aife.json")
    assert sum(1 for r in raw if "\ufffd" in (r.get("objet") or "")) == 3170
    assert demo_warehouse.value(
        """SELECT count(*) FROM findings WHERE rule_id = 'TEXT_ENCODING' AND field = 'objet'
           AND file_name = 'data.gouv.fr_aife.json'""") == 3170


@pytest.mark.parametrize(("name", "flagged"), [
    ("BUDGET PRINCIPAL", True), ("BUDG.PRINC. VILLE DE SAINT PAUL", True),
    ("Exercice Budgétaire", True), ("HAGUENAU BP", True),
    ("VILLE DE DUNKERQUE - PRINCIPAL", True), ("Ville de Lyon", False),
    ("ORLEANS METROPOLE", False),
])
def test_budget_label_buyer_names(demo_warehouse: Warehouse, name: str, flagged: bool) -> None:
    found = demo_warehouse.rows(
        """SELECT DISTINCT EXISTS (SELECT 1 FROM findings f WHERE f.record_key = sr.record_key
                                  AND f.rule_id = 'BUYER_NAME_BUDGET_LABEL')
           FROM source_records sr WHERE sr.raw_buyer_name = ?""", [name])
    assert found == [(flagged,)]


def test_budget_label_replaced_by_real_name(demo_warehouse: Warehouse) -> None:
    """Ville de Lyon's records publish their name; a budget label never wins over it."""
    names = demo_warehouse.rows(
        """SELECT name, name_is_reliable FROM buyers WHERE buyer_siret IN
           (SELECT buyer_siret FROM contracts c JOIN source_records sr
              ON sr.record_key = c.primary_record_key WHERE sr.raw_buyer_name = 'Ville de Lyon')""")
    assert names and all(n == ("Ville de Lyon", True) for n in names)


def test_group_amount_not_multiplied_by_holders(demo_warehouse: Warehouse) -> None:
    """Département du Var, 14 holders of one 10 M€ works contract (reference note §4, #14).

    The CSV repeats the contract amount on every holder row and every version row; the
    contract's current amount is the amount of its latest version, counted once.
    """
    uid = "22830001800113202220190390"
    with (DEMO / "decp" / "tabular" / TABULAR).open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["uid"] == uid]
    holders = {r["titulaire_id"] for r in rows}
    first_date = min(r["dateNotification"] for r in rows)
    initial = {float(r["montant"]) for r in rows if r["dateNotification"] == first_date}
    latest_date = max(r["dateNotification"] for r in rows)
    latest = {float(r["montant"]) for r in rows if r["dateNotification"] == latest_date}
    assert len(holders) == 14 and len(initial) == 1 and len(latest) == 1
    got = demo_warehouse.rows(
        "SELECT holder_count, amount_initial, amount FROM contracts WHERE uid = ?", [uid])
    assert got == [(14, initial.pop(), latest.pop())]
    total = demo_warehouse.value(
        "SELECT sum(amount) FROM contracts WHERE buyer_siret = '22830001800113'")
    per_contract = demo_warehouse.value(
        "SELECT sum(amount) FROM (SELECT DISTINCT uid, amount FROM contracts "
        "WHERE buyer_siret = '22830001800113')")
    assert total == per_contract


def test_modification_applied_in_date_order(tmp_path: Path) -> None:
    """Official 2.0 example: initial 575,000 € / 48 months, modification 1 sets 123,457.87 € /
    12 months and replaces the holder 55204599900869 by 868768687576575."""
    from .conftest import FIXTURES, make_warehouse

    wh = make_warehouse(tmp_path / "h",
                        FIXTURES / "decp" / "official_v2" / "marches_avec_modifications.json")
    try:
        assert wh.rows(
            """SELECT amount_initial, amount, duration_months_initial, duration_months,
                      modification_count
               FROM contracts WHERE uid = '21750001630066TEST2022'""") == [
            (575000.0, 123457.87, 48, 12, 1)]
        assert wh.rows(
            """SELECT version, version_kind, amount_after, duration_months_after
               FROM contract_versions WHERE uid = '21750001630066TEST2022' ORDER BY version""") == [
            (0, "initial", 575000.0, 48), (1, "modification", 123457.87, 12)]
        assert wh.rows(
            """SELECT holder_id, version, is_current FROM contract_holders
               WHERE uid = '21750001630066TEST2022' ORDER BY version""") == [
            ("55204599900869", 0, False), ("868768687576575", 1, True)]
    finally:
        wh.con.close()


def test_enrichment_from_reference_data(demo_warehouse: Warehouse) -> None:
    # CPV label and hierarchy: 45111100 = "Travaux de démolition" (CPV 2008)
    assert demo_warehouse.rows(
        """SELECT cpv, cpv_division, purchase_category FROM contracts
           WHERE uid = '59920013600241H9O2024T0000256'""") == [("45111100", "45", "Travaux")]
    label = demo_warehouse.value("SELECT label FROM ref_cpv WHERE code = '45111100'")
    assert label == demo_warehouse.value(
        "SELECT cpv_label FROM contracts WHERE uid = '59920013600241H9O2024T0000256'")
    # place of execution "22" (Code département) -> Bretagne (53)
    assert demo_warehouse.rows(
        """SELECT place_departement_code, place_region_code FROM contracts
           WHERE uid = '59920013600241H9O2024T0000256'""") == [("22", "53")]
    # SIRENE (demo extracts, lines read by hand): 02595006400094 is a GE in commune 35278
    # (Saint-Grégoire), département 35, région 53 (COG).
    assert demo_warehouse.rows(
        """SELECT category, postal_code, commune_code, departement_code, region_code
           FROM suppliers WHERE siret = '02595006400094'""") == [
        ("GE", "35760", "35278", "35", "53")]


def test_supplier_enrichment_coverage_is_partial(demo_warehouse: Warehouse) -> None:
    """The SIRENE extracts cover part of the suppliers on purpose: coverage is shown, not hidden."""
    total, with_category, with_place = demo_warehouse.rows(
        """SELECT count(*), count(category), count(commune_code) FROM suppliers
           WHERE siret IS NOT NULL""")[0]
    assert 0 < with_place < with_category < total


def _csv_rows(name: str) -> list[dict[str, str]]:
    with (DEMO / "ref" / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_reference_tables_hold_every_row_intact(demo_warehouse: Warehouse) -> None:
    cpv = _csv_rows("cpv_2008_fr.csv")
    labels = {r["CODE"][:8]: r["FR"] for r in cpv}
    assert len(labels) == 9454
    got = dict(demo_warehouse.rows("SELECT code, label FROM ref_cpv"))
    assert got == labels  # apostrophes, accents and commas inside quotes survive
    assert labels["03000000"].startswith("Produits agricoles, de l'élevage")
    communes = _csv_rows("code_officiel_geographique_communes.csv")
    assert demo_warehouse.value("SELECT count(*) FROM ref_communes") == len(communes) == 35015
    sirets = {r["siret"] for r in _csv_rows("sirene_etablissements_titulaires_decp_2022.csv")}
    assert demo_warehouse.value("SELECT count(*) FROM ref_sirene_establishments") == len(sirets)


def test_windows_1252_reference_file(tmp_path: Path) -> None:
    """A reference CSV exported in Windows-1252 is read with its accents and apostrophes."""
    from .conftest import make_warehouse

    text = (DEMO / "ref" / "cpv_2008_fr.csv").read_text(encoding="utf-8")
    latin = tmp_path / "cpv-latin.csv"
    latin.write_bytes(text.replace("l'élevage", "l’élevage").encode("cp1252"))
    wh = make_warehouse(tmp_path / "h", latin)
    try:
        assert wh.value("SELECT count(*) FROM ref_cpv") == 9454
        assert wh.value("SELECT label FROM ref_cpv WHERE code = '03000000'") == (
            "Produits agricoles, de l’élevage, de la pêche, de la sylviculture et produits "
            "connexes")
    finally:
        wh.con.close()


def test_cpv_seven_digits_padded_on_the_side_that_exists(tmp_path: Path) -> None:
    """`9132100` lost its leading zero (09132100 exists); `4543100-7` lost a trailing zero
    (04543100 does not exist, 45431000 does): reference note §4, defect #10."""
    from .conftest import make_warehouse

    record = ('{{"id": "{id}", "acheteur": {{"id": "21350238800019", "nom": "Ville de Rennes"}},'
              ' "nature": "Marché", "objet": "x", "codeCPV": "{cpv}", "procedure":'
              ' "Procédure adaptée", "dureeMois": 12, "dateNotification": "2019-01-10",'
              ' "datePublicationDonnees": "2019-01-20", "montant": 50000, "formePrix": "Ferme",'
              ' "titulaires": [{{"typeIdentifiant": "SIRET", "id": "85480074501125",'
              ' "denominationSociale": "AXIMA"}}], "modifications": []}}')
    path = tmp_path / "cpv.json"
    path.write_text('{"marches": [' + record.format(id="2019A", cpv="9132100") + ", "
                    + record.format(id="2019B", cpv="4543100-7") + "]}", encoding="utf-8")
    wh = make_warehouse(tmp_path / "h", path, DEMO / "ref" / "cpv_2008_fr.csv")
    try:
        assert wh.rows("SELECT contract_id, cpv FROM contracts ORDER BY 1") == [
            ("2019A", "09132100"), ("2019B", "45431000")]
        assert wh.rows(
            """SELECT rule_id, raw_value, value FROM findings WHERE field = 'codeCPV'
               ORDER BY raw_value DESC""") == [
            ("CPV_PADDED", "9132100", "09132100"), ("CPV_PADDED_RIGHT", "4543100-7", "45431000")]
    finally:
        wh.con.close()


def test_wrong_cpv_check_digits(demo_warehouse: Warehouse) -> None:
    """PES publishes check digits that CPV 2008 does not give (e.g. 71313000-0 for 71313000-5)."""
    official = {r["CODE"][:8]: r["CODE"] for r in _csv_rows("cpv_2008_fr.csv")}
    wrong = [r["codeCPV"] for r in _v1_records("data.gouv.fr_pes.json")
             if re.fullmatch(r"\d{8}-\d", r.get("codeCPV", "").strip())
             and r["codeCPV"].strip()[:8] in official
             and official[r["codeCPV"].strip()[:8]] != r["codeCPV"].strip()]
    assert "71313000-0" in wrong and official["71313000"] == "71313000-5"
    got = demo_warehouse.rows(
        """SELECT raw_value, value FROM findings WHERE rule_id = 'CPV_CHECK_DIGIT_WRONG'
           AND file_name = 'data.gouv.fr_pes.json' ORDER BY position""")
    assert [g[0] for g in got] == wrong
    assert all(value == official[raw[:8]] for raw, value in got)


def test_concession_id_format(tmp_path: Path) -> None:
    """DAJ rule: a concession id is year (4 digits) + internal number (1-10) + order (2 digits)."""
    from .conftest import make_warehouse

    record = ('{{"_type": "Contrat de concession", "id": "{id}", "autoriteConcedante": '
              '{{"id": "21350238800019", "nom": "Ville de Rennes"}}, "nature": '
              '"Délégation de service public", "objet": "Restauration", "procedure": '
              '"Procédure négociée ouverte", "dureeMois": 60, "dateSignature": "2019-02-01", '
              '"datePublicationDonnees": "2019-02-10", "dateDebutExecution": "2019-03-01", '
              '"valeurGlobale": 900000, "montantSubventionPublique": 0, "concessionnaires": '
              '[{{"typeIdentifiant": "SIRET", "id": "85480074501125", '
              '"denominationSociale": "AXIMA"}}], "donneesExecution": [], "modifications": []}}')
    path = tmp_path / "cc.json"
    path.write_text('{"marches": [' + record.format(id="2019DSP0101") + ", "
                    + record.format(id="DSP-RESTO") + "]}", encoding="utf-8")
    wh = make_warehouse(tmp_path / "h", path)
    try:
        assert wh.rows("SELECT kind, contract_id, amount FROM contracts ORDER BY 2") == [
            ("concession", "2019DSP0101", 900000.0), ("concession", "DSP-RESTO", 900000.0)]
        assert wh.rows("SELECT rule_id, raw_value FROM findings WHERE field = 'id'") == [
            ("CONCESSION_ID_FORMAT", "DSP-RESTO")]
    finally:
        wh.con.close()


def test_without_reference_files_codes_are_kept_not_condemned(tmp_path: Path) -> None:
    """No CPV list, no COG: well-formed codes are kept as published, never called unknown, and
    the status says what could not be checked."""
    from observatoire.reports import status

    from .conftest import make_warehouse

    wh = make_warehouse(tmp_path / "h", DEMO / "decp" / "v2")
    try:
        assert wh.value("SELECT count(*) FROM findings WHERE rule_id IN "
                        "('CPV_INVALID', 'CPV_TO_DIVISION', 'PLACE_CODE_UNKNOWN')") == 0
        # Mégalis: codeCPV 45111100, lieu "22" (Code département): kept as published
        assert wh.rows("""SELECT cpv, cpv_label, place_code, place_departement_code FROM contracts
                          WHERE uid = '59920013600241H9O2024T0000256'""") == [
            ("45111100", None, "22", None)]
        missing = status(wh.settings)["warehouse"]["missing_references"]
        assert len(missing) == 4 and missing[0].startswith("Nomenclature CPV absente")
    finally:
        wh.con.close()


def test_xml_booleans_and_unknown_advance_rate(tmp_path: Path) -> None:
    """Official 2.0 XML example: attributionAvance "oui" with tauxAvance 0, which the schema
    defines as an advance granted at an unknown rate; marcheInnovant "oui"; two social
    considerations, one environmental."""
    from .conftest import FIXTURES, make_warehouse

    wh = make_warehouse(tmp_path / "h", FIXTURES / "decp" / "official_v2" / "Marche.xml")
    try:
        assert wh.rows(
            """SELECT advance_granted, advance_rate, is_innovative, has_social_consideration,
                      has_environmental_consideration, offers_received, price_form, ccag
               FROM contracts WHERE uid = '21750001630040TEST2022'""") == [
            (True, None, True, True, True, 4, "Forfaitaire", "Travaux")]
    finally:
        wh.con.close()


def test_concession_yearly_execution_data(tmp_path: Path) -> None:
    """Official examples: 2019 JSON (investment 658,000 €, two viaduct tariffs) and 2024 XML
    (donneesAnnuelles wrapper, tariffs wrapped in <tarif>, whose value field is also <tarif>)."""
    from .conftest import FIXTURES, make_warehouse

    official = FIXTURES / "decp" / "official_v1.5"
    wh = make_warehouse(tmp_path / "h", official / "cc-avec-modifications.json",
                        FIXTURES / "decp" / "official_v2" / "Contrat-concession.xml")
    try:
        rows = wh.rows("""SELECT uid, CAST(publication_date AS VARCHAR), investment_spending,
                                 [(t.label, t.tariff) FOR t IN tariffs]
                          FROM concession_execution ORDER BY uid""")
        v1 = json.loads((official / "cc-avec-modifications.json").read_text(encoding="utf-8"))
        record = v1["marches"][0]
        year = record["donneesExecution"][0]
        uid = record["autoriteConcedante"]["id"] + record["id"]
        assert (uid, "2002-03-30", 658000.0) == (
            uid, year["datePublicationDonneesExecution"], float(year["depensesInvestissement"]))
        # the XML file publishes the same concession twice (same buyer and id): one contract,
        # one year of execution data
        assert rows == [
            ("123456789012340612202306122023", "2024-04-18", 15.3, [("Intitulé du tarif", 14.29)]),
            (uid, "2002-03-30", 658000.0, [("Traversée du viaduc, véhicule léger", 9.1),
                                           ("Traversée du viaduc, véhicule lourd", 14.4)]),
        ]
    finally:
        wh.con.close()


def test_finding_ids_are_unique(demo_warehouse: Warehouse) -> None:
    total, distinct = demo_warehouse.rows(
        "SELECT count(*), count(DISTINCT finding_id) FROM findings")[0]
    assert total == distinct > 10_000


def test_a_rule_is_one_id_and_field() -> None:
    """The findings of a record are not deduplicated (quality.findings): that holds only if no
    two rules of the catalogue share an id and a field."""
    from observatoire.quality.rules import RULES

    pairs = [(rule.id, rule.field) for rule in RULES]
    assert len(pairs) == len(set(pairs))


def test_a_holder_listed_twice_gives_one_finding(tmp_path: Path) -> None:
    """Findings are deduplicated per subject: a record listing the same holder twice, with a
    SIRET whose Luhn checksum fails (85480074501126: the last digit of a valid one changed),
    gets that finding once, and every finding id stays unique."""
    from .conftest import make_warehouse

    holder = '{"typeIdentifiant": "SIRET", "id": "85480074501126", "denominationSociale": "AXIMA"}'
    record = ('{"id": "2023M001", "acheteur": {"id": "21350238800019"}, "nature": "Marché", '
              '"objet": "Entretien", "codeCPV": "50700000-2", "procedure": "Procédure adaptée", '
              '"lieuExecution": {"code": "35238", "typeCode": "Code commune", "nom": "Rennes"}, '
              '"dureeMois": 12, "dateNotification": "2023-03-01", '
              '"datePublicationDonnees": "2023-03-10", "montant": 50000, "formePrix": "Ferme", '
              f'"titulaires": [{holder}, {holder}], "modifications": []}}')
    path = tmp_path / "twice.json"
    path.write_text('{"marches": [' + record + "]}", encoding="utf-8")
    wh = make_warehouse(tmp_path / "h", path)
    try:
        assert wh.rows("SELECT rule_id, raw_value FROM findings WHERE field = 'titulaire.id'") == [
            ("HOLDER_SIRET_CHECKSUM", "85480074501126")]
        assert wh.rows("SELECT count(*) = count(DISTINCT finding_id) FROM findings") == [(True,)]
    finally:
        wh.con.close()


def test_a_warehouse_of_another_schema_version_is_refused_clearly(tmp_path: Path) -> None:
    """A warehouse built by an older version (no or another schema_version) is not read: the
    user is told to rebuild, instead of a page failing on a missing column."""
    import duckdb

    from observatoire.errors import WarehouseMissing
    from observatoire.warehouse import open_warehouse

    settings = Settings(home=tmp_path)
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute("CREATE TABLE build_info (build_id INTEGER, schema_version INTEGER)")
    con.execute("INSERT INTO build_info VALUES (1, 1)")
    con.close()
    with pytest.raises(WarehouseMissing, match="version antérieure") as raised:
        open_warehouse(settings)
    assert "observatoire build" in raised.value.hint


def test_dematis_ids_reused_for_several_contracts(demo_warehouse: Warehouse) -> None:
    """The documented rule, recomputed on the whole Dematis file with the standard library: the
    records of one (buyer, id) are several contracts when they name different holders, or when
    one publication day carries different (holders, amount, CPV); each distinct signature is
    then a contract. No Dematis record is set aside."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for record in _v1_records("e-marchespublics.json"):
        groups.setdefault((_party_id(record) or "", record.get("id") or ""), []).append(record)

    def holders(record: dict) -> tuple[str, ...]:
        return tuple(sorted({t["id"] for t in record.get("titulaires") or []}))

    def signature(record: dict) -> tuple:
        return (holders(record), float(record["montant"]), record.get("codeCPV"))

    reused = {}
    for (buyer, id_), records in groups.items():
        holder_sets = {holders(r) for r in records if holders(r)}
        days: dict[str | None, set] = {}
        for r in records:
            days.setdefault(r.get("datePublicationDonnees"), set()).add(signature(r))
        if len(holder_sets) > 1 or any(len(s) > 1 for s in days.values()):
            reused[buyer + id_] = len({signature(r) for r in records})
    assert len(reused) == 8
    got = demo_warehouse.rows(
        """SELECT consultation_uid, count(DISTINCT uid) FROM source_records
           WHERE file_name = 'e-marchespublics.json' AND uid <> consultation_uid GROUP BY 1""")
    assert dict(got) == reused
    # every other key is one contract with its published uid
    assert demo_warehouse.value(
        """SELECT count(DISTINCT uid) FROM source_records
           WHERE file_name = 'e-marchespublics.json' AND uid = consultation_uid""") == (
        len(groups) - len(reused))
