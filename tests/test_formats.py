"""Each real format is detected from its content and parsed completely, by streaming."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from observatoire.errors import InputFileError
from observatoire.staging.detect import detect
from observatoire.staging.parse import parse_to_staging

from .conftest import DEMO, FIXTURES


def _json_counts(path: Path) -> tuple[int, int]:
    """(marchés, concessions) counted with the standard library, independently of the parser.

    A record is a concession when it sits in a ``contrat-concession`` list or has a granting
    authority or concessionnaires (real files put concessions in the ``marche`` list too).
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    marches = data["marches"]
    if isinstance(marches, dict):
        listed = len(marches.get("contrat-concession", []))
        marches = marches.get("marche", [])
    else:
        listed = 0
    concessions = sum(1 for m in marches if "autoriteConcedante" in m or "concessionnaires" in m)
    return len(marches) - concessions, concessions + listed


def _xml_counts(path: Path) -> tuple[int, int]:
    text = path.read_text(encoding="utf-8")
    return (len(re.findall(r"<marche[\s>]", text)),
            len(re.findall(r"<contrat-concession[\s>]", text)))


REAL_FILES = [
    # file, format, records, marchés, concessions — counts from shared/data/README.md
    ("decp/v1/data.gouv.fr_aife.json", "decp-json-list", 4530, 4508, 22),
    ("decp/v1/data.gouv.fr_pes.json", "decp-json-list", 1148, 1148, 0),
    ("decp/v1/e-marchespublics.json", "decp-json-list", 470, 470, 0),
    ("decp/v2/megalis_decp-59920013600241-2024-07-09-01.json", "decp-json-wrapped", 5, 5, 0),
    ("decp/v2/gip-maximilien_decp-13001845000028-2024-10-06-01.json", "decp-json-wrapped", 17,
     17, 0),
    ("decp/tabular/decpinfo_tabular_2024H2_travaux_cpv4521.csv", "decp-tabular-csv", 8957, 8957,
     0),
]


@pytest.mark.parametrize(("name", "fmt", "records", "marches", "concessions"), REAL_FILES)
def test_real_files_detected_and_parsed(tmp_path: Path, name: str, fmt: str, records: int,
                                        marches: int, concessions: int) -> None:
    # Detection must not depend on the name: parse a copy with a meaningless name.
    src = tmp_path / "fichier.dat"
    shutil.copyfile(DEMO / name, src)
    det = detect(src)
    assert (det.kind, det.format) == ("decp", fmt)
    out = tmp_path / "staged.parquet"
    result = parse_to_staging(src, det, "h", out, batch_size=1000)
    assert (result.records, result.marches, result.concessions) == (records, marches, concessions)
    assert result.status == "loaded"
    table = pq.read_table(out)
    assert table.num_rows == records
    assert table.column("position").to_pylist() == list(range(1, records + 1))


@pytest.mark.parametrize("path", sorted((FIXTURES / "decp").glob("official_v*/*.*")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_official_examples(tmp_path: Path, path: Path) -> None:
    det = detect(path)
    assert det.kind == "decp"
    result = parse_to_staging(path, det, "h", tmp_path / "s.parquet", batch_size=10)
    if path.suffix == ".xml":
        expected = _xml_counts(path)
        assert det.format == "decp-xml"
    else:
        expected = _json_counts(path)
    assert (result.marches, result.concessions) == expected
    assert result.status == "loaded"


def _first_staged(name: str, tmp_path: Path) -> dict[str, Any]:
    """The first staging row of an official example."""
    path = FIXTURES / "decp" / "official_v2" / name
    parse_to_staging(path, detect(path), "h", tmp_path / "s.parquet", batch_size=10)
    row: dict[str, Any] = pq.read_table(tmp_path / "s.parquet").to_pylist()[0]
    return row


def test_v2_wrapped_record_is_normalised(tmp_path: Path) -> None:
    """The singular wrappers of 2.0.1+ (titulaires:[{titulaire:{}}]) are unwrapped."""
    first = _first_staged("marches_avec_modifications.json", tmp_path)
    assert first["family"] == "2024"
    assert first["raw_id"] == "TEST2022"
    assert first["raw_buyer_id"] == "21750001630066"
    assert first["holders"] == [{"id_type": "SIRET", "id": "55204599900869", "name": None}]
    mod = first["modifications"][0]
    assert (mod["mod_id"], mod["duration"], mod["amount"], mod["notification_date"]) == (
        "1", "12", "123457.87", "2022-10-18")
    assert mod["holders"] == [{"id_type": "SIRET", "id": "868768687576575", "name": None}]


def test_v2_xml_matches_json_shape(tmp_path: Path) -> None:
    """XML booleans and repeated elements come out like their JSON counterparts."""
    first = _first_staged("Marche.xml", tmp_path)
    assert first["raw_id"] == "TEST2022"
    assert first["raw_innovative"] == "oui"
    assert first["raw_social"] == ["Clause sociale", "Critère social"]
    assert first["raw_techniques"] == ["Concours", "Accord-cadre"]
    assert first["holders"][0]["id"] == "55204599900869"
    assert first["line"] == 2


def test_quirks_nested_holders_and_nan(tmp_path: Path) -> None:
    v1 = FIXTURES / "decp" / "quirks" / "decp-processing_decp_test_2019.json"
    parse_to_staging(v1, detect(v1), "h", tmp_path / "a.parquet", batch_size=10)
    rows = pq.read_table(tmp_path / "a.parquet").to_pylist()
    first = rows[0]
    # "acheteur.id" as a flat key, holders of the modification nested in two lists
    assert first["raw_buyer_id"] == "21500222100012"
    assert first["modifications"][0]["holders"][0]["id"] == "12345678900022"
    assert {"cle_acheteur_a_plat", "titulaires_imbriques"} <= set(first["notes"])
    v2 = FIXTURES / "decp" / "quirks" / "decp-processing_decp_test_2022.json"
    result = parse_to_staging(v2, detect(v2), "h", tmp_path / "b.parquet", batch_size=10)
    assert result.status == "loaded"
    assert [e["code"] for e in result.errors] == ["nan_remplace"]
    assert (result.marches, result.concessions) == _json_counts(v2)


def test_not_decp_json_is_rejected_with_its_keys(tmp_path: Path) -> None:
    schema = tmp_path / "x.json"
    schema.write_text('{"$schema": "x", "title": "DECP", "properties": {}}', encoding="utf-8")
    with pytest.raises(InputFileError) as exc:
        detect(schema)
    assert "« marches » est absente" in exc.value.message
    assert "$schema, title, properties" in exc.value.message
