"""Malformed input files: each gives a clear error or a set-aside record, never a crash.

One case per kind of broken file met in real DECP sources (reference note, sections 4 #18 and
5.1): truncated downloads, wrong text encodings, empty and binary files, XML with control
characters, JSON or CSV that are not DECP, bare ``NaN`` tokens, and what the command line prints
for them. The load log (``Catalog.loads()``) must say the status, the counts and the errors.

Binary and encoding cases are generated in ``tmp_path``; the readable ones are under
``tests/fixtures/malformed/``. Every expected value is written out literally.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from observatoire.build import build
from observatoire.config import Settings
from observatoire.connectors.ingest import ingest
from observatoire.landing.catalog import Catalog, Load

FIXTURES = Path(__file__).parent / "fixtures" / "malformed"
DEMO = Path(__file__).resolve().parents[1] / "demo" / "data"
CLI = Path(sys.executable).parent / "observatoire"
SAMPLE = 64 * 1024  # bytes the format detection looks at


def settings_in(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def ingest_references(settings: Settings) -> None:
    """The CPV list and the COG communes, for the CPV and place checks of a build."""
    ingest(
        settings,
        [
            DEMO / "ref" / "cpv_2008_fr.csv",
            DEMO / "ref" / "code_officiel_geographique_communes.parquet",
        ],
    )


def load_one(settings: Settings, path: Path) -> Load:
    """Ingest one file; return its line of the load log, read back from the catalog."""
    ingest(settings, [path])
    loads = [ld for ld in Catalog(settings.catalog_path).loads() if ld.file_name == path.name]
    assert len(loads) == 1
    return loads[0]


def query(settings: Settings, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def assert_rejected(load: Load, path: Path, message: str, hint: str) -> None:
    """A rejected file: nothing read, one error saying what, where and what to do."""
    assert (load.status, load.kind, load.format, load.records, load.marches, load.concessions) == (
        "rejected",
        "unknown",
        None,
        0,
        0,
        0,
    )
    assert load.errors == [
        {"code": "format_non_reconnu", "message": message, "where": str(path), "hint": hint}
    ]


def marche(
    id_: str, objet: str, *, nature: str = "Marché", buyer_name: str = "Ville de Rennes"
) -> dict[str, Any]:
    """A clean 2019-format record of the Ville de Rennes."""
    return {
        "id": id_,
        "acheteur": {"id": "21350238800019", "nom": buyer_name},
        "nature": nature,
        "objet": objet,
        "codeCPV": "45231000-5",
        "procedure": "Appel d'offres ouvert",
        "lieuExecution": {"code": "35238", "typeCode": "Code commune", "nom": "Rennes"},
        "dureeMois": 12,
        "dateNotification": "2019-03-01",
        "datePublicationDonnees": "2019-03-15",
        "montant": 150000,
        "formePrix": "Ferme",
        "titulaires": [
            {
                "typeIdentifiant": "SIRET",
                "id": "85480074501125",
                "denominationSociale": "AXIMA CONCEPT",
            }
        ],
        "modifications": [],
    }


def decp_json(records: list[dict[str, Any]]) -> str:
    return json.dumps({"marches": records}, ensure_ascii=False, indent=2)


def first_non_ascii(data: bytes) -> int:
    return next(i for i, byte in enumerate(data) if byte > 127)


# --- truncated download ------------------------------------------------------------------------


def test_truncated_json_keeps_the_records_before_the_cut(tmp_path: Path) -> None:
    """The real e-marchespublics file (470 records, 449 557 bytes) cut at byte 224 778: records
    1 to 240 are complete before the cut (record 241, id 2018000000001400, starts at byte
    224 186 and is cut). The 240 are kept, the load is 'partial' and says where it broke."""
    data = (DEMO / "decp" / "v1" / "e-marchespublics.json").read_bytes()
    assert len(data) == 449_557
    path = tmp_path / "e-marchespublics-tronque.json"
    path.write_bytes(data[:224_778])
    settings = settings_in(tmp_path)
    load = load_one(settings, path)
    assert (load.status, load.format, load.records, load.marches) == (
        "partial",
        "decp-json-list",
        240,
        240,
    )
    assert [e["code"] for e in load.errors] == ["json_invalide"]
    error = load.errors[0]
    assert error["message"].startswith("JSON invalide ou tronqué après l'enregistrement n° 240 : ")
    assert error["where"] == f"{path}, après l'enregistrement 240"
    assert error["hint"].startswith("Les enregistrements complets lus avant l'erreur sont gardés")
    build(settings)
    assert query(
        settings,
        "SELECT count(*), count(*) FILTER (WHERE raw_id = '2018000000001700'),"
        " count(*) FILTER (WHERE raw_id = '2018000000001400') FROM source_records",
    ) == [(240, 1, 0)]
    assert query(settings, "SELECT records_in, records_staged, balanced FROM reconciliation") == [
        (240, 240, True)
    ]


def test_truncated_xml_is_partial(tmp_path: Path) -> None:
    """A DECP XML of two marchés cut inside the second one (after its <codeCPV>): the first is
    complete and kept; the second is cut and must not become a contract; the load is 'partial'
    and says the XML broke."""
    path = tmp_path / "decp-tronque.xml"
    text = xml_document(
        [
            xml_marche("2024X01", "Travaux de charpente"),
            xml_marche("2024X02", "Travaux de couverture"),
        ]
    )
    path.write_text(text[: text.index("<techniques>", text.index("2024X02"))], encoding="utf-8")
    settings = settings_in(tmp_path)
    load = load_one(settings, path)
    assert (load.status, load.records) == ("partial", 1)
    assert [e["code"] for e in load.errors] == ["xml_invalide"]
    build(settings)
    assert query(settings, "SELECT raw_id FROM source_records") == [("2024X01",)]


# --- encodings ---------------------------------------------------------------------------------


def test_windows_1252_json_is_converted(tmp_path: Path) -> None:
    """A DECP JSON saved in Windows-1252: converted, accents (and the em dash, byte 0x97)
    right in the warehouse, the conversion noted in the load log."""
    path = tmp_path / "decp-cp1252.json"
    path.write_bytes(
        decp_json(
            [
                marche("2019W01", "Réfection de la toiture de l'école élémentaire"),
                marche(
                    "2019W02",
                    "Entretien des espaces verts",
                    buyer_name="Mairie de Rennes — Service des marchés",
                ),
            ]
        ).encode("cp1252")
    )
    settings = settings_in(tmp_path)
    load = load_one(settings, path)
    assert (load.status, load.records, load.marches) == ("loaded", 2, 2)
    assert load.errors == [
        {
            "code": "encodage_converti",
            "message": "Encodage Windows-1252 (Latin-1) détecté et converti en UTF-8.",
            "where": str(path),
            "hint": "Rien à faire ; le contenu a été converti.",
        }
    ]
    build(settings)
    assert query(settings, "SELECT contract_id, object, nature FROM contracts ORDER BY 1") == [
        ("2019W01", "Réfection de la toiture de l'école élémentaire", "Marché"),
        ("2019W02", "Entretien des espaces verts", "Marché"),
    ]
    assert query(settings, "SELECT raw_buyer_name FROM source_records ORDER BY position") == [
        ("Ville de Rennes",),
        ("Mairie de Rennes — Service des marchés",),
    ]
    assert query(settings, "SELECT count(*) FROM findings WHERE rule_id = 'TEXT_ENCODING'") == [
        (0,)
    ]


CSV_HEADER = (
    "uid,id,acheteur_id,acheteur_nom,titulaire_id,titulaire_typeIdentifiant,"
    "titulaire_nom,objet,codeCPV,procedure,montant,dureeMois,dateNotification\n"
)


def csv_row(id_: str, buyer: str, holder: str, objet: str, procedure: str) -> str:
    return (
        f"21350238800019{id_},{id_},21350238800019,{buyer},85480074501125,SIRET,{holder},"
        f"{objet},45231000,{procedure},61100,12,2024-09-01\n"
    )


def test_windows_1252_csv_is_converted(tmp_path: Path) -> None:
    """A consolidated DECP CSV saved in Windows-1252: converted, accents right, noted."""
    path = tmp_path / "decp-cp1252.csv"
    path.write_bytes(
        (
            CSV_HEADER
            + csv_row(
                "2024C01",
                "COMMUNE DE SAINT-ÉTIENNE",
                "BÂTIMENT ÉNERGIE",
                "Réhabilitation de l'église",
                "Procédure adaptée",
            )
        ).encode("cp1252")
    )
    settings = settings_in(tmp_path)
    load = load_one(settings, path)
    assert (load.status, load.format, load.records) == ("loaded", "decp-tabular-csv", 1)
    assert [(e["code"], e["message"]) for e in load.errors] == [
        ("encodage_converti", "Encodage Windows-1252 (Latin-1) détecté et converti en UTF-8.")
    ]
    build(settings)
    assert query(settings, "SELECT object, procedure FROM contracts") == [
        ("Réhabilitation de l'église", "Procédure adaptée")
    ]
    assert query(settings, "SELECT raw_buyer_name FROM source_records") == [
        ("COMMUNE DE SAINT-ÉTIENNE",)
    ]
    assert query(settings, "SELECT holder_name FROM contract_holders") == [("BÂTIMENT ÉNERGIE",)]


def test_windows_1252_json_with_accents_only_after_the_first_64_kib(tmp_path: Path) -> None:
    """A Windows-1252 JSON whose first 64 KiB happen to be plain ASCII (upper-case PES-style
    records) and whose first accent comes later: the whole file must still be read (200
    records), converted, with the accents right."""
    records = [
        marche(
            f"2019L{i:03d}",
            f"TRAVAUX DE VOIRIE LOT {i}",
            nature="MARCHE",
            buyer_name="VILLE DE RENNES",
        )
        for i in range(1, 200)
    ]
    records.append(
        marche("2019L999", "Réfection de la toiture de l'école", buyer_name="VILLE DE RENNES")
    )
    data = decp_json(records).encode("cp1252")
    assert first_non_ascii(data) > SAMPLE
    path = tmp_path / "decp-cp1252-long.json"
    path.write_bytes(data)
    settings = settings_in(tmp_path)
    load = load_one(settings, path)
    assert (load.status, load.records) == ("loaded", 200)
    assert [e["code"] for e in load.errors] == ["encodage_converti"]
    build(settings)
    assert query(settings, "SELECT object FROM contracts WHERE contract_id = '2019L999'") == [
        ("Réfection de la toiture de l'école",)
    ]


def test_windows_1252_csv_with_accents_only_after_the_first_64_kib(tmp_path: Path) -> None:
    """The same for a consolidated CSV: 700 ASCII rows then one with accents. The accents must
    come out right (not as « � »), and the conversion must be noted."""
    rows = "".join(
        csv_row(
            f"2024C{i:03d}", "COMMUNE DE RENNES", "AXIMA CONCEPT", "Voirie", "Appel d'offres ouvert"
        )
        for i in range(1, 701)
    )
    last = csv_row(
        "2024C999",
        "COMMUNE DE SAINT-ÉTIENNE",
        "BÂTIMENT ÉNERGIE",
        "Réhabilitation de l'église",
        "Procédure adaptée",
    )
    data = (CSV_HEADER + rows + last).encode("cp1252")
    assert first_non_ascii(data) > SAMPLE
    path = tmp_path / "decp-cp1252-long.csv"
    path.write_bytes(data)
    settings = settings_in(tmp_path)
    load = load_one(settings, path)
    assert (load.status, load.records) == ("loaded", 701)
    build(settings)
    assert query(
        settings, "SELECT raw_buyer_name, raw_object FROM source_records WHERE raw_id = '2024C999'"
    ) == [("COMMUNE DE SAINT-ÉTIENNE", "Réhabilitation de l'église")]
    assert [e["code"] for e in load.errors] == ["encodage_converti"]


@pytest.mark.parametrize(
    ("encoding", "prefix", "notes"),
    [
        ("utf-16", b"", ["Encodage UTF-16 converti en UTF-8."]),
        ("utf-8", b"\xef\xbb\xbf", []),
    ],
    ids=["utf-16", "utf-8-bom"],
)
def test_utf16_and_utf8_bom_are_read(
    tmp_path: Path, encoding: str, prefix: bytes, notes: list[str]
) -> None:
    """#18: a UTF-16 export (with its BOM) is converted and noted; a UTF-8 BOM is just skipped."""
    path = tmp_path / f"decp-{encoding}.json"
    path.write_bytes(
        prefix + decp_json([marche("2019U01", "Rénovation énergétique")]).encode(encoding)
    )
    settings = settings_in(tmp_path)
    load = load_one(settings, path)
    assert (load.status, load.records) == ("loaded", 1)
    assert [e["message"] for e in load.errors] == notes
    build(settings)
    assert query(settings, "SELECT object FROM contracts") == [("Rénovation énergétique",)]


# --- empty, binary -----------------------------------------------------------------------------

EMPTY_HINT = "Vérifiez le téléchargement ou l'export qui a produit ce fichier."


@pytest.mark.parametrize("content", [b"", b"  \r\n\t\n"], ids=["zero-bytes", "blank"])
def test_empty_file_is_rejected(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "decp-vide.json"
    path.write_bytes(content)
    load = load_one(settings_in(tmp_path), path)
    assert_rejected(load, path, "Le fichier est vide.", EMPTY_HINT)


BINARY_HINT = "Vérifiez qu'il s'agit bien d'un export DECP (JSON, XML) ou d'un CSV."
# Readable archives are opened at ingestion (tests/test_layouts.py): these are damaged ones.
ARCHIVE_HINT = ("Téléchargez à nouveau une archive abîmée ; exportez un classeur ou un document "
                "en JSON, XML ou CSV.")
DOCUMENT_HINT = "Exportez les données en JSON, XML ou CSV."


@pytest.mark.parametrize(
    ("content", "message", "hint"),
    [
        (
            b"\x07\x00\xff" + random.Random(1234).randbytes(2000),  # noqa: S311 (test data)
            "Le fichier est binaire (il contient des octets nuls) : ce n'est ni du JSON, "
            "ni du XML, ni du CSV.",
            BINARY_HINT,
        ),
        (
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(100),
            "Le fichier est une archive ZIP illisible (ou un classeur XLSX), pas un fichier de "
            "données DECP ou de référence.",
            ARCHIVE_HINT,
        ),
        (
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
            "Le fichier est un document PDF, pas un fichier de données DECP ou de référence.",
            DOCUMENT_HINT,
        ),
        (
            b"\x1f\x8b\x08\x00" + bytes(50),
            "Le fichier est une archive GZIP illisible (tronquée ou abîmée), pas un fichier de "
            "données DECP ou de référence.",
            ARCHIVE_HINT,
        ),
    ],
    ids=["random-bytes", "zip", "pdf", "gzip"],
)
def test_binary_file_is_rejected(tmp_path: Path, content: bytes, message: str, hint: str) -> None:
    path = tmp_path / "decp.json"
    path.write_bytes(content)
    load = load_one(settings_in(tmp_path), path)
    assert_rejected(load, path, message, hint)


def test_broken_parquet_is_rejected(tmp_path: Path) -> None:
    """A file with the Parquet magic but no valid content."""
    path = tmp_path / "communes.parquet"
    path.write_bytes(b"PAR1" + bytes(64))
    load = load_one(settings_in(tmp_path), path)
    assert (load.status, load.records) == ("rejected", 0)
    assert len(load.errors) == 1
    # pyarrow's own (English) text is not quoted
    assert load.errors[0]["message"] == (
        "Fichier Parquet illisible : son en-tête ou son pied de fichier est abîmé (fichier "
        "tronqué ou mal écrit).")
    assert load.errors[0]["hint"] == "Téléchargez le fichier à nouveau."


def test_build_after_rejected_files_succeeds(tmp_path: Path) -> None:
    """Rejected files stop nothing: the build runs and has nothing from them."""
    settings = settings_in(tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "vide.json").write_bytes(b"")
    (tmp_path / "in" / "archive.zip").write_bytes(b"PK\x03\x04" + bytes(20))
    ingest(settings, [tmp_path / "in"])
    assert [(ld.file_name, ld.status) for ld in Catalog(settings.catalog_path).loads()] == [
        ("archive.zip", "rejected"),
        ("vide.json", "rejected"),
    ]
    build(settings)
    assert query(
        settings,
        "SELECT (SELECT count(*) FROM contracts), "
        "(SELECT count(*) FROM source_records), (SELECT count(*) FROM loads)",
    ) == [(0, 0, 2)]


# --- XML with control characters ---------------------------------------------------------------


def xml_marche(id_: str, objet: str) -> str:
    return f"""<marche>
  <id>{id_}</id>
  <acheteur><id>59920013600241</id></acheteur>
  <nature>Marché</nature>
  <objet>{objet}</objet>
  <codeCPV>45261100</codeCPV>
  <techniques><technique>Sans objet</technique></techniques>
  <modalitesExecution><modaliteExecution>Sans objet</modaliteExecution></modalitesExecution>
  <marcheInnovant>false</marcheInnovant>
  <ccag>Travaux</ccag>
  <offresRecues>3</offresRecues>
  <attributionAvance>false</attributionAvance>
  <tauxAvance>0</tauxAvance>
  <typeGroupementOperateurs>Pas de groupement</typeGroupementOperateurs>
  <sousTraitanceDeclaree>false</sousTraitanceDeclaree>
  <procedure>Procédure adaptée</procedure>
  <lieuExecution><code>35238</code><typeCode>Code commune</typeCode></lieuExecution>
  <dureeMois>6</dureeMois>
  <dateNotification>2024-05-30</dateNotification>
  <datePublicationDonnees>2024-06-10</datePublicationDonnees>
  <montant>52000</montant>
  <typesPrix><typePrix>Définitif ferme</typePrix></typesPrix>
  <formePrix>Forfaitaire</formePrix>
  <titulaires>
    <titulaire><typeIdentifiant>SIRET</typeIdentifiant><id>32933888305269</id></titulaire>
  </titulaires>
  <considerationsSociales>
    <considerationSociale>Pas de considération sociale</considerationSociale>
  </considerationsSociales>
  <considerationsEnvironnementales>
    <considerationEnvironnementale>Pas de considération environnementale\
</considerationEnvironnementale>
  </considerationsEnvironnementales>
</marche>
"""


def xml_document(marches: list[str]) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n<marches>\n' + "".join(marches) + "</marches>\n"


def test_xml_with_control_characters(tmp_path: Path) -> None:
    """#18: a DECP XML with \\x01 and \\x0b inside <objet> (forbidden in XML 1.0): parsed, the
    two characters removed, the removal noted; the record is clean in the warehouse."""
    path = tmp_path / "decp-controle.xml"
    path.write_bytes(
        xml_document([xml_marche("2024X01", "Travaux\x01 de charpente\x0b")]).encode("utf-8")
    )
    settings = settings_in(tmp_path)
    load = load_one(settings, path)
    assert (load.status, load.format, load.records, load.marches) == ("loaded", "decp-xml", 1, 1)
    assert load.errors == [
        {
            "code": "caracteres_controle",
            "message": "2 caractère(s) de contrôle interdits en XML ont été retirés.",
            "where": str(path),
            "hint": "Rien à faire : le contenu a été lu ; signalez-le au producteur.",
        }
    ]
    ingest_references(settings)
    build(settings)
    assert query(
        settings,
        "SELECT uid, object, cpv, holder_count, techniques, offers_received FROM contracts",
    ) == [("599200136002412024X01", "Travaux de charpente", "45261100", 1, ["Sans objet"], 3)]
    assert query(settings, "SELECT status FROM source_records") == [("kept",)]


# --- JSON and CSV that are not DECP ------------------------------------------------------------


def test_json_schema_file_is_rejected_naming_its_keys(tmp_path: Path) -> None:
    """The DECP JSON schema itself, mistaken for data: rejected, the message names the keys."""
    path = FIXTURES / "json_schema.json"
    load = load_one(settings_in(tmp_path), path)
    assert_rejected(
        load,
        path,
        "Ce JSON n'a pas la forme d'un paquet DECP : la clé « marches » est absente (clés "
        "trouvées à la racine : $schema, $id, title, type, properties, required).",
        'Un fichier DECP contient {"marches": [...]} (format 2019) ou '
        '{"marches": {"marche": [...]}} (format 2024).',
    )


def test_json_list_of_other_objects_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "liste.json"
    path.write_text('[{"nom": "Rennes", "population": 225081}, {"nom": "Brest"}]', encoding="utf-8")
    load = load_one(settings_in(tmp_path), path)
    assert_rejected(
        load,
        path,
        "Ce JSON est une liste, mais ses éléments ne sont pas des marchés DECP (clés du premier "
        "élément : nom, population).",
        "Un fichier DECP contient des marchés avec au moins id, acheteur et titulaires.",
    )


# The missing columns come first: they explain the failure (none of the three columns of the
# consolidated CSV is there; "montant_ht" is not "montant").
UNKNOWN_CSV_MESSAGE = (
    "CSV non reconnu : il manque les colonnes acheteur_id, montant, titulaire_id, attendues pour "
    "le format le plus proche (DECP consolidé tabulaire (CSV, une ligne par marché × titulaire))."
    " Colonnes trouvées : acheteur, montant_ht, numero_marche, titulaire."
)


def test_csv_with_unknown_columns_is_rejected(tmp_path: Path) -> None:
    path = FIXTURES / "unknown_columns.csv"
    load = load_one(settings_in(tmp_path), path)
    assert (load.status, load.kind, load.records) == ("rejected", "unknown", 0)
    assert [(e["code"], e["message"], e["hint"]) for e in load.errors] == [
        (
            "format_non_reconnu",
            UNKNOWN_CSV_MESSAGE,
            "Le DECP consolidé doit avoir au moins les colonnes acheteur_id, titulaire_id et "
            "montant ; le DECP « à plat » du ministère, acheteur_id (ou acheteur.id) et "
            "titulaire_id_1.",
        )
    ]


def test_csv_with_unknown_columns_error_points_at_the_header(tmp_path: Path) -> None:
    """The detection says the problem is in line 1 (the header); the load log must keep it."""
    path = FIXTURES / "unknown_columns.csv"
    load = load_one(settings_in(tmp_path), path)
    assert [e["where"] for e in load.errors] == [f"{path}, ligne 1 (en-tête)"]


# --- NaN ---------------------------------------------------------------------------------------


def test_bare_nan_tokens_are_read_as_null(tmp_path: Path) -> None:
    """#18: `"dureeMois": NaN` and `"montant":NaN` (no space): both read as null, noted; the
    record is kept with its amount and duration missing."""
    path = FIXTURES / "nan_tokens.json"
    settings = settings_in(tmp_path)
    load = load_one(settings, path)
    assert (load.status, load.records) == ("loaded", 1)
    assert load.errors == [
        {
            "code": "nan_remplace",
            "message": "2 valeur(s) « NaN », invalides en JSON, lues comme vides (null).",
            "where": str(path),
            "hint": "Rien à faire ; signalez-le au producteur du fichier.",
        }
    ]
    ingest_references(settings)
    build(settings)
    assert query(settings, "SELECT amount, duration_months, object FROM contracts") == [
        (None, None, "Travaux de voirie")
    ]
    assert set(query(settings, "SELECT rule_id, raw_value FROM findings")) == {
        ("AMOUNT_MISSING", None),
        ("DURATION_MISSING", None),
    }


def test_nan_inside_a_text_value_is_left_alone(tmp_path: Path) -> None:
    """Only bare NaN tokens are invalid JSON: the text « Indice de révision : NaN, à préciser »
    in objet is valid and must reach the warehouse unchanged. One token only is replaced."""
    path = FIXTURES / "nan_inside_text.json"
    settings = settings_in(tmp_path)
    load = load_one(settings, path)
    build(settings)
    assert query(settings, "SELECT object, amount FROM contracts") == [
        ("Indice de révision : NaN, à préciser", None)
    ]
    assert [e["message"] for e in load.errors] == [
        "1 valeur(s) « NaN », invalides en JSON, lues comme vides (null)."
    ]


# --- the command line --------------------------------------------------------------------------


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVATOIRE_")}
    env["COLUMNS"] = "500"  # no line wrapping of long temporary paths
    return subprocess.run(
        [str(CLI), "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "Le fichier est vide."),
        (b"PK\x03\x04" + bytes(40), "Le fichier est une archive ZIP illisible (ou un classeur"),
        (b"\x00\x01\x02\x03" * 100, "Le fichier est binaire (il contient des octets nuls)"),
    ],
    ids=["empty", "zip", "binary"],
)
def test_cli_rejected_file_exits_non_zero_without_traceback(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "decp.json"
    path.write_bytes(content)
    result = run_cli(tmp_path / "home", "ingest", str(path))
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "Traceback" not in output
    assert message in output
    assert f"Où : {path}" in output
    assert "Que faire :" in output
    assert "1 fichier(s) examiné(s), 1 nouveau(x), 0 incomplet(s), 1 rejeté(s)." in output
    loads = Catalog(Settings(home=tmp_path / "home").catalog_path).loads()
    assert [(ld.file_name, ld.status, ld.records) for ld in loads] == [("decp.json", "rejected", 0)]


def test_cli_missing_path_exit_code_2(tmp_path: Path) -> None:
    missing = tmp_path / "nulle-part" / "decp.json"
    result = run_cli(tmp_path / "home", "ingest", str(missing))
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert lines[:2] == ["Erreur : Ce chemin n'existe pas.", f"Où : {missing}"]
    assert len(lines) == 3 and lines[2].startswith("Que faire : Vérifiez l'orthographe du chemin")


def test_cli_prints_file_names_with_brackets_verbatim(tmp_path: Path) -> None:
    """File names like « decp [brouillon].json » are common; the CLI must print them as they
    are (it must not read « [brouillon] » as formatting), so that « Où : » gives the real path."""
    path = tmp_path / "decp [brouillon].json"
    path.write_bytes(b"")
    result = run_cli(tmp_path / "home", "ingest", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert f"Où : {path}" in result.stdout


def test_cli_missing_path_with_brackets_gives_a_message_not_a_traceback(tmp_path: Path) -> None:
    """A mistyped path that contains « [/x] » must give the usual message and exit code 2."""
    missing = tmp_path / "export[" / "x].json"
    result = run_cli(tmp_path / "home", "ingest", str(missing))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 2
    assert f"Où : {missing}" in result.stderr
