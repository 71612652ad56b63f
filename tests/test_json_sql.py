"""The SQL fast path of the JSON parser writes the same staging rows as the streaming parser."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from observatoire.errors import InputFileError
from observatoire.staging import json_sql
from observatoire.staging.detect import detect
from observatoire.staging.parse import parse_to_staging

from .conftest import DEMO, FIXTURES

JSON_FILES = sorted([*DEMO.glob("decp/**/*.json"), *FIXTURES.rglob("*.json")])


def _both(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[pa.Table | None,
                                                                                 pa.Table]:
    """(rows of the SQL path or None if it declined, rows of the streaming parser)."""
    det = detect(path)
    fast = None
    if json_sql.eligible(path, det) and json_sql.parse(path, det, "h", tmp_path / "fast.parquet"):
        fast = pq.read_table(tmp_path / "fast.parquet")
    with monkeypatch.context() as m:
        m.setattr(json_sql, "eligible", lambda *_: False)
        parse_to_staging(path, det, "h", tmp_path / "slow.parquet", batch_size=7)
    return fast, pq.read_table(tmp_path / "slow.parquet")


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: p.name)
def test_same_rows_as_streaming_parser(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        fast, slow = _both(path, tmp_path, monkeypatch)
    except InputFileError:
        return  # not a DECP file: neither path parses it
    if fast is not None:
        assert fast.schema.remove_metadata() == slow.schema.remove_metadata()
        assert fast.to_pylist() == slow.to_pylist()


def test_demo_files_take_the_sql_path(tmp_path: Path) -> None:
    """The fast path is used on real files (else the test above would prove nothing)."""
    for path in DEMO.glob("decp/**/*.json"):
        det = detect(path)
        assert json_sql.eligible(path, det), path
        assert json_sql.parse(path, det, "h", tmp_path / "x.parquet") is not None, path


RECORD = (
    '{{"id":"A1","acheteur":{{"id":"21750001600019","nom":"Ville"}},"montant":{amount},'
    '"objet":{text},"titulaires":[{{"typeIdentifiant":"SIRET","id":"1","denominationSociale":'
    '"X"}}],"modifications":[{{"montant":{amount},"titulaires":[]}}],{extra}"_type":"Marché"}}'
)
TRICKY = {
    "floats": ["0.0", "-0.0", "1.5", "26130.0", "0.0001", "0.00001", "1.5e-7", "1e15", "1e16",
               "1.0E17", "123456789012345.67", "-5", "1E3", "9223372036854775807"],
    "texts": ['"x\\u001fy"', '"\\u00e9\\/\\ud83d\\ude00"', '"[1]"', '"{a}"', '""', "null",
              "true", '"a,1e5"', '"x\\"y"'],
    "extras": ['"id":"B2",', '"lieuExecution":"75",', '"acheteur.id":"1",',
               '"titulaires":[{"titulaire":{"id":"9"}}],', '"techniques":{"technique":["x"]},',
               '"modifications":{"modification":{"montant":1}},', '"zz":{"a":1,"a":2},',
               '"autoriteConcedante":{"id":"1"},', '"titulaires":[null],', '"titulaires":"",',
               # unread keys (named in the notes), keys with spaces, NUL in an identity
               '"uuid":"u-1",', '"uuid":"",', '"donneesExecution":[{"x":1}],', '"nom ":"x",',
               '" source":"s",', '"uid":"1\\u00002",', '"codecpv":"45000000-7",',
               '"lieuExecution":{"code":"35","pays":"FR"},', '"acheteur":{"id":"1","x":"y"},',
               '"modifications":[{"montant":1,"motif":"m"}],', '"lieuExecution":"35",'],
}


@pytest.mark.parametrize(
    "body",
    [
        *[RECORD.format(amount=a, text='"t"', extra="") for a in TRICKY["floats"]],
        *[RECORD.format(amount="1", text=t, extra="") for t in TRICKY["texts"]],
        *[RECORD.format(amount="1", text='"t"', extra=e) for e in TRICKY["extras"]],
    ],
)
def test_tricky_records(body: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Values that DuckDB and Python could write differently: same rows, or the SQL path
    declines and the streaming parser does the work."""
    path = tmp_path / "in.json"
    path.write_text('{"marches":[' + body + "," + body.replace('"A1"', '"A2"') + "]}")
    fast, slow = _both(path, tmp_path, monkeypatch)
    if fast is not None:
        assert fast.to_pylist() == slow.to_pylist()


@pytest.mark.parametrize(
    "text",
    [
        '{"marches":[{"id":"1","montant":1,},]}',  # trailing commas
        '{"marches":[{"id":"1","montant":Infinity}]}',
        '{"marches":[{"id":"1","montant":1e400}]}',
        '{"marches":[{"id":"1"}]}{"marches":[{"id":"2"}]}',  # two documents
        '{"marches":[{"id":"1"}]}{"marches":[]}',
        '{"marches":[{"id":"1"},{"id":"2"',  # truncated
    ],
)
def test_json_ijson_rejects_is_left_to_the_streaming_parser(text: str, tmp_path: Path) -> None:
    """Invalid JSON that DuckDB would read must be reported exactly as before."""
    path = tmp_path / "in.json"
    path.write_text(text)
    det = detect(path)
    if json_sql.eligible(path, det):
        assert json_sql.parse(path, det, "h", tmp_path / "x.parquet") is None
    result = parse_to_staging(path, det, "h", tmp_path / "s.parquet", batch_size=10)
    assert [e["code"] for e in result.errors] == ["json_invalide"]


def test_an_integer_past_64_bits_is_read_not_rejected(tmp_path: Path) -> None:
    """Valid JSON that yajl's C parser and orjson cannot hold (an integer past 64 bits): the
    stream reads it with ijson's Python parser and keeps the number as written."""
    path = tmp_path / "in.json"
    path.write_text('{"marches":[{"id":"1","montant":123456789012345678901234},{"id":"2"}]}')
    det = detect(path)
    if json_sql.eligible(path, det):
        assert json_sql.parse(path, det, "h", tmp_path / "x.parquet") is None
    result = parse_to_staging(path, det, "h", tmp_path / "s.parquet", batch_size=10)
    assert result.errors == [] and result.records == 2
    rows = pq.read_table(tmp_path / "s.parquet").to_pylist()
    assert [r["raw_amount"] for r in rows] == ["123456789012345678901234", None]
    assert rows[0]["raw_json"] == '{"id":"1","montant":123456789012345678901234}'


def test_well_formed_list_file_goes_through_sql(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text('{"marches":[' + RECORD.format(amount="1", text='"t"', extra="") + "]}")
    det = detect(path)
    assert json_sql.eligible(path, det)
    assert json_sql.parse(path, det, "h", tmp_path / "x.parquet") == (1, 0)
    row = pq.read_table(tmp_path / "x.parquet").to_pylist()[0]
    assert row["raw_buyer_id"] == "21750001600019"
    assert row["holders"] == [{"id_type": "SIRET", "id": "1", "name": "X"}]
    assert row["modifications"][0]["amount"] == "1"
    assert row["modifications"][0]["holders"] is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"marches":[{"id":"A"},]}', False),  # a comma before a closing bracket
        ('{"marches":[{"id":"A"}]} {"marches":[]}', False),  # a second document
        ('{"marches":[{"id":"A" , "objet":"x"}\n]}', True),
        ('{"marches":[{"id":"A", "objet":"}, ]"}]}', False),  # inside a string: streamed anyway
    ],
)
def test_only_json_both_readers_agree_on_is_eligible(
    text: str, expected: bool, tmp_path: Path
) -> None:
    path = tmp_path / "in.json"
    path.write_text(text)
    assert json_sql.eligible(path, detect(path)) is expected
