"""Records and layouts are read whole: the ministry's flat layout (JSON and CSV, names or
labels), one object where a list is expected, keys with stray spaces, unread keys named, NUL
characters removed from identities, bare ``&`` in XML, whitespace alike in XML and JSON."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from observatoire.staging.detect import detect
from observatoire.staging.parse import parse_to_staging

from .conftest import DEMO, FIXTURES, make_warehouse

LAYOUTS = FIXTURES / "layouts"
FLAT_JSON = LAYOUTS / "decp-2022-marches-valides_rennes.json"
FLAT_CSV = LAYOUTS / "decp-2022-marches-valides_rennes.csv"
RECORDS: list[dict[str, Any]] = json.loads(FLAT_JSON.read_text(encoding="utf-8"))
RENNES = "21350238800019"
MEGALIS = DEMO / "decp" / "v2" / "megalis_decp-59920013600241-2024-07-09-01.json"


def stage(path: Path, tmp_path: Path) -> tuple[Any, Any, list[dict[str, Any]]]:
    det = detect(path)
    out = tmp_path / f"{path.stem}.parquet"
    result = parse_to_staging(path, det, "h", out, batch_size=2)
    return det, result, pq.read_table(out).to_pylist()


def expected(rec: dict[str, Any]) -> dict[str, Any]:
    """What the staging row of a flat record must hold, read from the record by hand: the
    ministry's "CDL" marks an empty cell; lists are joined with ", "; numbers are kept as
    Python writes them."""

    def v(key: str) -> str | None:
        value = rec[key]
        return None if value == "CDL" else str(value)

    holders = []
    for n in (1, 2, 3):
        if rec[f"titulaire_id_{n}"] != "CDL":
            holders.append({"id_type": v(f"titulaire_typeidentifiant_{n}"),
                            "id": v(f"titulaire_id_{n}"), "name": None})
    return {
        "raw_id": rec["id"], "raw_buyer_id": rec["acheteur_id"], "raw_cpv": rec["codecpv"],
        "raw_notification_date": rec["datenotification"],
        "raw_publication_date": rec["datepublicationdonnees"],
        "raw_duration": str(rec["dureemois"]), "raw_amount": str(rec["montant"]),
        "raw_place_code": rec["lieuexecution_code"],
        "raw_place_type": rec["lieuexecution_typecode"], "raw_procedure": rec["procedure"],
        "raw_object": rec["objet"], "raw_ccag": rec["ccag"], "raw_offers": rec["offresrecues"],
        "raw_advance_rate": rec["tauxavance"], "raw_framework_id": v("idaccordcadre"),
        "raw_grouping": rec["typegroupementoperateurs"], "raw_source": rec["source"],
        "raw_environmental": rec["considerationsenvironnementales"].split(", "),
        "raw_execution_modes": rec["modalitesexecution"].split(", "),
        "raw_price_types": [rec["typesprix"]], "raw_techniques": [rec["techniques"]],
        "holders": holders, "modifications": [], "subcontracts": [], "family": "2024",
        "kind": "marche", "notes": [],
    }


def project(row: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {k: row[k] for k in keys}


KEYS = list(expected(RECORDS[0]))


def test_flat_json_is_read_whole(tmp_path: Path) -> None:
    det, result, rows = stage(FLAT_JSON, tmp_path)
    assert det.format == "decp-flat-json"
    assert (result.records, result.status) == (3, "loaded")
    assert [project(r, KEYS) for r in rows] == [expected(rec) for rec in RECORDS]
    # Spot check by hand on the first record: the 2024 fields the old reader lost.
    first = rows[0]
    assert (first["raw_cpv"], first["raw_notification_date"], first["raw_place_code"]) == (
        "38720000-8", "2024-02-05", "35")
    assert first["holders"] == [{"id_type": "SIRET", "id": "44471927200346", "name": None}]
    assert json.loads(first["raw_json"]) == RECORDS[0]


@pytest.mark.parametrize("wrapper", ["marches", "results"])
def test_flat_records_in_a_wrapper_are_read_whole(tmp_path: Path, wrapper: str) -> None:
    """``{"marches": [...]}`` (was taken for a 2019 list and lost CPV, dates, place and
    holders) and the Opendatasoft API answer ``{"total_count": 3, "results": [...]}``."""
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"total_count": 3, wrapper: RECORDS}), encoding="utf-8")
    det, _, rows = stage(path, tmp_path)
    assert det.format == "decp-flat-json"
    assert [project(r, KEYS) for r in rows] == [expected(rec) for rec in RECORDS]


def test_flat_csv_is_read_whole(tmp_path: Path) -> None:
    det, result, rows = stage(FLAT_CSV, tmp_path)
    assert (det.format, det.delimiter) == ("decp-flat-csv", ";")
    assert (result.records, result.status) == (3, "loaded")
    assert [project(r, KEYS) for r in rows] == [expected(rec) for rec in RECORDS]
    assert [r["line"] for r in rows] == [2, 3, 4]


#: The labels the portal's CSV download uses instead of the API's field names.
LABELS = {"acheteur_id": "acheteur.id", "codecpv": "codeCPV",
          "datenotification": "dateNotification", "dureemois": "dureeMois",
          "lieuexecution_code": "lieuExecution.code",
          "lieuexecution_typecode": "lieuExecution.typeCode",
          "titulaire_typeidentifiant_1": "titulaire_typeIdentifiant_1",
          "datepublicationdonnees": "datePublicationDonnees", "offresrecues": "offresRecues"}


def test_flat_csv_with_labels_is_read_whole(tmp_path: Path) -> None:
    text = FLAT_CSV.read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    path = tmp_path / "labels.csv"
    path.write_text(";".join(LABELS.get(c, c) for c in header.split(";")) + "\n" + rest,
                    encoding="utf-8")
    det, _, rows = stage(path, tmp_path)
    assert det.format == "decp-flat-csv"
    assert [project(r, KEYS) for r in rows] == [expected(rec) for rec in RECORDS]


def test_unread_keys_are_named_and_empty_ones_are_not(tmp_path: Path) -> None:
    """A key the reader does not use is named in the record's notes (STRUCTURE_DRIFT) when it
    holds a value; the ministry's empty cells ("CDL") lose nothing and are not named."""
    rec = dict(RECORDS[1])
    rec["montantmodificationactesoustraitance"] = "1200.5"  # a value this reader does not use
    rec["champ_inconnu"] = "x"
    path = tmp_path / "unread.json"
    path.write_text(json.dumps([RECORDS[0], rec]), encoding="utf-8")
    _, _, rows = stage(path, tmp_path)
    assert rows[0]["notes"] == []
    assert rows[1]["notes"] == ["cle_non_lue:champ_inconnu",
                                "cle_non_lue:montantmodificationactesoustraitance"]


def test_unread_key_of_a_nested_record_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nested.json"
    record = {"id": "2019X01", "acheteur": {"id": RENNES, "siren": "213502388"}, "montant": 1,
              "dateTransmissionDonneesEtalab": "2019-05-01", "urlProfilAcheteur": "",
              "titulaires": [{"id": "44471927200346", "typeIdentifiant": "SIRET",
                              "adresse": "Rennes"}],
              "modifications": [{"montant": 2, "motif": "avenant"}]}
    plain = dict(record, id="2019X02", acheteur={"id": RENNES}, titulaires=[], modifications=[])
    del plain["dateTransmissionDonneesEtalab"]
    path.write_text(json.dumps({"marches": [record, plain]}), encoding="utf-8")
    _, _, rows = stage(path, tmp_path)
    # urlProfilAcheteur is empty: nothing was lost, nothing to say.
    assert rows[0]["notes"] == [
        "cle_non_lue:acheteur.siren", "cle_non_lue:dateTransmissionDonneesEtalab",
        "cle_non_lue:modifications.motif", "cle_non_lue:titulaires.adresse"]
    assert rows[1]["notes"] == []


def test_flat_row_with_a_modification_and_a_subcontract(tmp_path: Path) -> None:
    """The one modification and the one subcontracting act a row of the 2024 export carries
    (values set by hand on a real record: the fixture has none)."""
    rec = dict(RECORDS[1])
    rec.update(idmodification="1", montantmodification=2600000.0, dureemoismodification="CDL",
               idtitulairemodification="40986794200016",
               typeidentifianttitulairemodification="SIRET",
               datenotificationmodificationmodification="2024-09-02",
               datepublicationdonneesmodificationmodification="2024-09-20",
               idactesoustraitance="7", montantactesoustraitance="30000",
               idsoustraitant="44471927200346", typeidentifiantsoustraitant="SIRET")
    path = tmp_path / "mod.json"
    path.write_text(json.dumps([rec]), encoding="utf-8")
    _, _, rows = stage(path, tmp_path)
    holder = {"id_type": "SIRET", "id": "40986794200016", "name": None}
    assert rows[0]["modifications"] == [{
        "position": 0, "mod_id": "1", "object": None, "notification_date": "2024-09-02",
        "publication_date": "2024-09-20", "duration": None, "amount": "2600000.0",
        "holders": [holder]}]
    assert rows[0]["subcontracts"] == [{
        "act_id": "7", "id_type": "SIRET", "id": "44471927200346", "duration": None,
        "notification_date": None, "publication_date": None, "amount": "30000",
        "price_variation": None}]
    assert rows[0]["notes"] == []


def test_flat_file_builds_contracts_with_cpv_dates_place_and_holders(tmp_path: Path) -> None:
    wh = make_warehouse(tmp_path / "home", FLAT_JSON)
    try:
        got = wh.rows(
            "SELECT uid, cpv, CAST(notification_date AS VARCHAR), place_code, holder_count "
            "FROM contracts ORDER BY uid")
        want = sorted(
            (RENNES + r["id"], r["codecpv"].split("-")[0], r["datenotification"],
             r["lieuexecution_code"], 1) for r in RECORDS)
        assert got == want
    finally:
        wh.con.close()


# --- one object where a list is expected --------------------------------------------------------


def test_single_marche_object_is_read(tmp_path: Path) -> None:
    """``{"marches": {"marche": {...}}}``: the first real record of the Mégalis file, alone."""
    real = json.loads(MEGALIS.read_text(encoding="utf-8"))
    one = real["marches"]["marche"][0]
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"marches": {"marche": one}}), encoding="utf-8")
    _, result, rows = stage(path, tmp_path)
    assert (result.records, result.status) == (1, "loaded")
    assert rows[0]["raw_id"] == str(one["id"])
    assert "objet_au_lieu_de_liste" in rows[0]["notes"]


# --- keys with stray spaces ---------------------------------------------------------------------


def test_keys_with_stray_spaces_are_read_with_a_note(tmp_path: Path) -> None:
    """A real AIFE record (SMAEP de Lagny-sur-Marne, three holders) whose keys "nom", "objet"
    and a holder's "typeIdentifiant" are written with stray spaces: read as without them."""
    real = json.loads((LAYOUTS / "aife_test_records.json").read_text(encoding="utf-8"))
    original = real["marches"][1]
    spaced = dict(original)
    spaced[" objet"] = spaced.pop("objet")
    spaced["acheteur"] = {"id": original["acheteur"]["id"], "nom ": original["acheteur"]["nom"]}
    first = dict(original["titulaires"][0])
    first["typeIdentifiant\t"] = first.pop("typeIdentifiant")
    spaced["titulaires"] = [first, *original["titulaires"][1:]]
    path = tmp_path / "spaces.json"
    path.write_text(json.dumps({"marches": [original, spaced]}), encoding="utf-8")
    _, _, rows = stage(path, tmp_path)
    fields = ["raw_id", "raw_object", "raw_buyer_id", "raw_buyer_name", "holders", "raw_amount"]
    assert project(rows[1], fields) == project(rows[0], fields)
    assert rows[1]["raw_buyer_name"] == "SMAEP DE LA REGION DE LAGNY-SUR-MARNE"
    assert len(rows[1]["holders"]) == 3
    assert (rows[0]["notes"], rows[1]["notes"]) == ([], ["cle_avec_espaces"])
    assert json.loads(rows[1]["raw_json"]) == spaced


# --- NUL characters in identities ----------------------------------------------------------------


def test_nul_is_removed_from_identity_fields(tmp_path: Path) -> None:
    path = tmp_path / "nul.json"
    path.write_text('{"marches": [{"id": "2019\\u0000NU01", "acheteur": {"id": "213502388'
                    '\\u000000019"}, "montant": 1, "titulaires": [{"id": "444719272\\u000000346",'
                    ' "typeIdentifiant": "SIRET"}]}]}', encoding="utf-8")
    _, _, rows = stage(path, tmp_path)
    row = rows[0]
    assert (row["raw_id"], row["raw_buyer_id"], row["holders"][0]["id"]) == (
        "2019NU01", RENNES, "44471927200346")
    assert row["notes"] == ["octet_nul_retire:buyer_id", "octet_nul_retire:holder_id",
                            "octet_nul_retire:id"]
    assert "\x00" in json.loads(row["raw_json"])["id"]


# --- XML: bare ampersands, whitespace ------------------------------------------------------------


def xml_of(records: list[str]) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n<marches>\n' + "\n".join(records) + \
        "\n</marches>\n"


def marche_xml(mid: str, obj: str, buyer: str = RENNES) -> str:
    return (f"<marche><id>{mid}</id><acheteur><id>{buyer}</id></acheteur>"
            f"<objet>{obj}</objet><montant>1000</montant></marche>")


def test_xml_bare_ampersand_is_repaired_and_nothing_after_it_is_lost(tmp_path: Path) -> None:
    """The official example package, its holders renamed with two real AIFE holder names
    written with a bare ``&`` ("Cloix & Mendes-Gil", "&change"): every record is read."""
    official = (FIXTURES / "decp" / "official_v1.5" / "paquet.xml").read_text(encoding="utf-8")
    text = official.replace("<denominationSociale>Garami SARL<",
                            "<denominationSociale>Cloix & Mendes-Gil<", 1)
    text = text.replace("<denominationSociale>Hellman Gmbh<", "<denominationSociale>&change<", 1)
    path = tmp_path / "amp.xml"
    path.write_text(text, encoding="utf-8")
    lines = [n for n, line in enumerate(text.splitlines(), start=1)
             if re.search(r"&(?!amp;|lt;|gt;|quot;|apos;|#)", line)]
    _, result, rows = stage(path, tmp_path)
    records = len(re.findall(r"<(marche|contrat-concession)[\s>]", official))
    assert (result.records, result.status) == (records, "loaded")
    names = [h["name"] for r in rows for h in r["holders"]]
    assert "Cloix & Mendes-Gil" in names and "&change" in names
    (msg,) = [e for e in result.errors if e["code"] == "esperluette_echappee"]
    assert msg["where"] == f"{path}, ligne(s) {', '.join(map(str, lines))}"
    assert msg["message"].startswith(f"{len(lines)} caractère(s) « & » isolé(s)")


def test_xml_entities_and_references_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "ent.xml"
    path.write_text(xml_of([marche_xml("A1", "Lot 2 &amp; 3 &#38; &#x26; &lt;b&gt; R&D &nbsp;")]),
                    encoding="utf-8")
    _, result, rows = stage(path, tmp_path)
    assert rows[0]["raw_object"] == "Lot 2 & 3 & & <b> R&D &nbsp;"
    (msg,) = [e for e in result.errors if e["code"] == "esperluette_echappee"]
    assert msg["where"] == f"{path}, ligne(s) 3, 3"


def test_xml_and_json_treat_surrounding_whitespace_alike(tmp_path: Path) -> None:
    xml = tmp_path / "ws.xml"
    xml.write_text(xml_of([marche_xml(" WS01 ", "  Travaux ", buyer=f" {RENNES}")]),
                   encoding="utf-8")
    js = tmp_path / "ws.json"
    js.write_text(json.dumps({"marches": [{"id": " WS01 ", "acheteur": {"id": f" {RENNES}"},
                                           "objet": "  Travaux ", "montant": "1000"}]}),
                  encoding="utf-8")
    (x,) = stage(xml, tmp_path)[2]
    (j,) = stage(js, tmp_path)[2]
    fields = ["raw_id", "raw_buyer_id", "raw_object", "raw_amount"]
    assert project(x, fields) == project(j, fields) == {
        "raw_id": " WS01 ", "raw_buyer_id": f" {RENNES}", "raw_object": "  Travaux ",
        "raw_amount": "1000"}


# --- messages ------------------------------------------------------------------------------------


ENGLISH = re.compile(r"parse error|lexical error|premature|EOF|tag mismatch|expected|line \d+ "
                     r"and|Opening|not well-formed", re.IGNORECASE)


def test_truncated_json_message_is_french_only(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    text = json.dumps({"marches": RECORDS})
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    _, result, _ = stage(path, tmp_path)
    (msg,) = [e for e in result.errors if e["code"] == "json_invalide"]
    assert not ENGLISH.search(msg["message"]), msg["message"]
    assert "tronqué" in msg["message"]


def test_broken_xml_message_is_french_only(tmp_path: Path) -> None:
    path = tmp_path / "cut.xml"
    path.write_text(xml_of([marche_xml("A1", "x")]) .replace("</objet>", "</obj>"),
                    encoding="utf-8")
    _, result, _ = stage(path, tmp_path)
    (msg,) = [e for e in result.errors if e["code"] == "xml_invalide"]
    assert not ENGLISH.search(msg["message"]), msg["message"]
    assert "ligne 3" in msg["message"]


def test_csv_unread_columns_are_named(tmp_path: Path) -> None:
    """decp.info's derived columns are not read: the load says which (from the header, read
    here with the csv module)."""
    path = next((DEMO / "decp" / "tabular").glob("*.csv"))
    head = "".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:4])
    small = tmp_path / "tab.csv"
    small.write_text(head, encoding="utf-8")
    header = next(csv.reader(io.StringIO(head)))
    read = {"uid", "id", "codeCPV", "acheteur_id", "acheteur_nom", "titulaire_id",
            "titulaire_nom", "montant", "dateNotification", "procedure", "dureeMois",
            "offresRecues",
            # the holder's place, used when SIRENE does not place the holder
            "titulaire_departement_code", "titulaire_region_code",
            # the buyer's place, used when SIRENE does not place the buyer
            "acheteur_departement_code", "acheteur_region_code"}
    _, result, _ = stage(small, tmp_path)
    (msg,) = [e for e in result.errors if e["code"] == "colonnes_non_lues"]
    unread = [c for c in header if c not in read]
    assert msg["message"].endswith(": " + ", ".join(unread) + ".")


# --- compressed inputs ---------------------------------------------------------------------------


def test_gz_and_zip_inputs_are_read(tmp_path: Path) -> None:
    """A ``.gz`` file and a ``.zip`` of DECP files (with the folders and hidden files archivers
    add) are read; the same content given plain afterwards is already loaded."""
    import gzip
    import zipfile

    from observatoire.config import Settings
    from observatoire.connectors.ingest import ingest

    gz = tmp_path / "decp-2022.json.gz"
    gz.write_bytes(gzip.compress(FLAT_JSON.read_bytes()))
    zipped = tmp_path / "export.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(FLAT_CSV, "2024/rennes.csv")
        z.write(MEGALIS, "2024/megalis.json")
        z.writestr("__MACOSX/2024/._rennes.csv", b"\x00\x05\x16\x07")
        z.writestr(".DS_Store", b"\x00\x00")
        z.writestr("2024/", b"")
    settings = Settings(home=tmp_path / "home")
    outcomes = ingest(settings, [gz, zipped])
    megalis_count = len(json.loads(MEGALIS.read_text(encoding="utf-8"))["marches"]["marche"])
    assert [(o.load.file_name, o.load.format, o.load.status, o.load.records)
            for o in outcomes] == [
        ("decp-2022.json", "decp-flat-json", "loaded", len(RECORDS)),
        ("rennes.csv", "decp-flat-csv", "loaded", len(RECORDS)),
        ("megalis.json", "decp-json-wrapped", "loaded", megalis_count),
    ]
    assert outcomes[1].load.original_path == f"{zipped} › 2024/rennes.csv"
    again = ingest(settings, [FLAT_JSON])
    assert [o.new for o in again] == [False]
    assert not list(settings.work_dir.glob("archives-*"))


# --- exit codes of « observatoire ingest » ------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_ingest_exit_codes(tmp_path: Path, as_json: bool) -> None:
    """0 when every new file is read whole, 3 when one is incomplete, 1 when one is rejected
    (documented in the README); the summary counts incomplete files."""
    from .test_malformed_files import run_cli

    flag = ["--json"] if as_json else []
    home = tmp_path / "home"
    ok = run_cli(home, "ingest", *flag, str(FLAT_JSON))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    cut = tmp_path / "cut.json"
    text = FLAT_JSON.read_text(encoding="utf-8")
    cut.write_text(text[: len(text) // 2], encoding="utf-8")
    partial = run_cli(home, "ingest", *flag, str(cut))
    assert partial.returncode == 3, partial.stdout + partial.stderr
    if not as_json:
        assert "1 fichier(s) examiné(s), 1 nouveau(x), 1 incomplet(s), 0 rejeté(s)." in \
            partial.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"autre": 1}', encoding="utf-8")
    both = tmp_path / "both"
    both.mkdir()
    (both / "a.json").write_text(text[: len(text) // 3], encoding="utf-8")
    (both / "b.json").write_bytes(bad.read_bytes())
    rejected = run_cli(home, "ingest", *flag, str(both))
    assert rejected.returncode == 1, rejected.stdout + rejected.stderr
    # Files already loaded are not reported again: the job noticed them the first time.
    assert run_cli(home, "ingest", *flag, str(cut)).returncode == 0


# --- findings of a build: unread keys, enum variants, test records ------------------------------


def test_build_names_unread_keys_normalises_enum_variants_and_sets_test_records_aside(
    tmp_path: Path,
) -> None:
    """One build over: the flat file with a key no reader uses and a procedure written without
    its apostrophe ("Appel d offres restreint"); three real AIFE records (1816: buyer "TEST
    APC", holder "Gourp Test"; 3049: a real company called "TEST INGENIERIE"; 3247: buyer
    "TEST APC", objet "Test APC", holder "test titulaire")."""
    records = [dict(r) for r in RECORDS]
    records[1]["procedure"] = "Appel d offres restreint"
    records[2]["champ_inconnu"] = "valeur"
    data = tmp_path / "data"
    data.mkdir()
    (data / "flat.json").write_text(json.dumps(records), encoding="utf-8")
    aife = LAYOUTS / "aife_test_records.json"
    (data / aife.name).write_bytes(aife.read_bytes())
    wh = make_warehouse(tmp_path / "home", data)
    try:
        def findings(file_name: str, position: int, rule: str) -> list[tuple[Any, ...]]:
            return wh.rows("SELECT field, raw_value, value FROM findings WHERE file_name = ? "
                           "AND position = ? AND rule_id = ?", [file_name, position, rule])

        assert findings("flat.json", 3, "STRUCTURE_DRIFT") == [
            ("structure", "cle_non_lue:champ_inconnu", None)]
        assert findings("flat.json", 2, "ENUM_NORMALISED") == [
            ("procedure", "Appel d offres restreint", "Appel d'offres restreint")]
        assert wh.value("SELECT procedure FROM contracts WHERE uid = ?",
                        [RENNES + records[1]["id"]]) == "Appel d'offres restreint"
        statuses = wh.rows("SELECT position, status, reasons FROM source_records "
                           "WHERE file_name = ? ORDER BY position", [aife.name])
        assert [(p, s, "TEST_RECORD" in (r or [])) for p, s, r in statuses] == [
            (1, "set_aside", True), (2, "kept", False), (3, "set_aside", True)]
    finally:
        wh.con.close()


def test_nul_in_a_consolidated_csv_row_is_removed_from_identities(tmp_path: Path) -> None:
    """decp.info rows after the first 64 KiB (the binary check), one holder id with a NUL."""
    source = next((DEMO / "decp" / "tabular").glob("*.csv"))
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    head = 1
    while sum(len(x) for x in lines[:head]) < 70_000:
        head += 1
    row = next(csv.reader([lines[head]]))
    header = next(csv.reader([lines[0]]))
    col = header.index("titulaire_id")
    clean_id = row[col]
    row[col] = clean_id[:5] + "\x00" + clean_id[5:]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    path = tmp_path / "nul.csv"
    path.write_text("".join(lines[:head]) + buf.getvalue(), encoding="utf-8")
    _, result, rows = stage(path, tmp_path)
    assert result.records == head
    last = rows[-1]
    assert last["holders"][0]["id"] == clean_id
    assert last["notes"] == ["octet_nul_retire:holder_id"]
    assert "\x00" in json.loads(last["raw_json"])["titulaire_id"]


def test_flat_csv_column_with_stray_spaces_is_read_with_a_note(tmp_path: Path) -> None:
    text = FLAT_CSV.read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    path = tmp_path / "spaces.csv"
    path.write_text(header.replace(";codecpv;", "; codecpv ;") + "\n" + rest, encoding="utf-8")
    _, _, rows = stage(path, tmp_path)
    assert [r["raw_cpv"] for r in rows] == [r["codecpv"] for r in RECORDS]
    assert all(r["notes"] == ["cle_avec_espaces"] for r in rows)


@pytest.mark.parametrize("container", ["list", "records"])
def test_flat_records_in_an_opendatasoft_envelope_are_read_whole(tmp_path: Path,
                                                                 container: str) -> None:
    """The portal's older JSON export (a list) and its API v1 answer ({"records": [...]}) wrap
    each record: {"datasetid", "recordid", "fields": {...}, "record_timestamp"}."""
    wrapped = [{"datasetid": "decp-2022-marches-valides", "recordid": f"r{n}", "fields": rec,
                "record_timestamp": "2026-09-15T22:52:17Z"} for n, rec in enumerate(RECORDS)]
    path = tmp_path / "ods.json"
    body: Any = wrapped if container == "list" else {"nhits": 3, "records": wrapped}
    path.write_text(json.dumps(body), encoding="utf-8")
    det, result, rows = stage(path, tmp_path)
    assert (det.format, result.records) == ("decp-flat-json", 3)
    assert [project(r, KEYS) for r in rows] == [expected(rec) for rec in RECORDS]


def test_flat_modification_row_amends_its_contract(tmp_path: Path) -> None:
    """The ministry publishes a modification as another row of the contract, repeating its
    initial values: one contract, initial amount from the first row, current amount from the
    modification (values set by hand on a real record: the fixture has no modification)."""
    modified = dict(RECORDS[1], idmodification="1", montantmodification=2600000.0,
                    datenotificationmodificationmodification="2024-09-02",
                    datepublicationdonneesmodificationmodification="2024-09-20")
    data = tmp_path / "data"
    data.mkdir()
    (data / "rows.json").write_text(json.dumps([RECORDS[1], modified]), encoding="utf-8")
    wh = make_warehouse(tmp_path / "home", data)
    try:
        assert wh.rows("SELECT uid, amount_initial, amount, modification_count FROM contracts") == [
            (RENNES + RECORDS[1]["id"], RECORDS[1]["montant"], 2600000.0, 1)]
        assert wh.rows("SELECT position, status FROM source_records ORDER BY position") == [
            (1, "kept"), (2, "duplicate")]
    finally:
        wh.con.close()


def test_office_document_zip_is_not_opened(tmp_path: Path) -> None:
    """An XLSX is a zip too: it is not unpacked but rejected with the detection's message."""
    import zipfile

    from observatoire.config import Settings
    from observatoire.connectors.ingest import ingest

    xlsx = tmp_path / "export.xlsx"
    with zipfile.ZipFile(xlsx, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    (outcome,) = ingest(Settings(home=tmp_path / "home"), [xlsx])
    assert (outcome.load.file_name, outcome.load.status) == ("export.xlsx", "rejected")
    assert outcome.load.errors[0]["message"].startswith(
        "Le fichier est une archive ZIP illisible (ou un classeur XLSX)")
