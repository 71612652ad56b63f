"""Small JSON files of a worker's batch read whole by orjson: the same rows, counts and problems
as the streaming parser (ijson) gives, on the real files; the files only the streaming parser
reads right are left to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from observatoire.errors import InputFileError
from observatoire.staging.detect import detect
from observatoire.staging.parse import (
    READERS,
    ParseResult,
    _none_read,
    _notes,
    iter_json,
    parse_in_memory,
    records_in_hand,
)

DATA = Path("/work/shared/data/decp")
FIXTURES = Path(__file__).resolve().parent / "fixtures"
MEGALIS = DATA / "v2" / "megalis_decp-59920013600241-2024-07-09-01.json"
AIFE_2019 = FIXTURES / "layouts" / "aife_test_records.json"


def _json_files() -> list[Path]:
    """Every DECP JSON file of the shared data and of the test fixtures."""
    found = []
    for root in (DATA, FIXTURES):
        for path in sorted(root.rglob("*.json")):
            try:
                det = detect(path)
            except InputFileError:
                continue
            if det.kind == "decp" and READERS[det.format] is iter_json:
                found.append(path)
    return found


def _streamed(path: Path) -> tuple[ParseResult, list[dict[str, object]]]:
    """What the streaming parser gives, counted as ``parse_in_memory`` counts."""
    det = detect(path)
    result = ParseResult()
    _notes(path, det, result)
    rows = list(iter_json(path, det, "h" * 64, result))
    result.records = len(rows)
    result.concessions = sum(row["kind"] == "concession" for row in rows)
    result.marches = result.records - result.concessions
    _none_read(path, result)
    return result, rows


JSON_FILES = _json_files()


def test_the_real_files_are_mostly_read_whole() -> None:
    """Of the real DECP JSON files, only those with NaN tokens are left to the streaming
    parser (the NaN filter is a streaming one)."""
    assert len(JSON_FILES) > 80
    streamed = [p.name for p in JSON_FILES if records_in_hand(p.read_bytes(), detect(p)) is None]
    assert all(detect(p).has_nan for p in JSON_FILES if p.name in streamed)
    assert len(streamed) < 10


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: p.name)
def test_a_file_read_whole_gives_the_rows_and_counts_of_the_streaming_parse(path: Path) -> None:
    assert parse_in_memory(path, detect(path), "h" * 64) == _streamed(path)


def _copy_with(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_integer_past_64_bits_is_streamed_and_kept_exact(tmp_path: Path) -> None:
    """orjson would read 123456789012345678901234 as a float (1.2345678901234568e+23)."""
    data = json.loads(MEGALIS.read_text(encoding="utf-8"))
    data["marches"]["marche"][0]["montant"] = 123456789012345678901234
    path = _copy_with(tmp_path, "grand.json", json.dumps(data, ensure_ascii=False))
    assert records_in_hand(path.read_bytes(), detect(path)) is None
    result, rows = parse_in_memory(path, detect(path), "h" * 64)
    assert rows[0]["raw_amount"] == "123456789012345678901234"
    assert (result, rows) == _streamed(path)
    # Nineteen digits below zero: past what orjson reads as an integer too.
    data["marches"]["marche"][0]["montant"] = -9223372036854775809
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert records_in_hand(path.read_bytes(), detect(path)) is None
    assert parse_in_memory(path, detect(path), "h" * 64)[1][0]["raw_amount"] \
        == "-9223372036854775809"


def test_a_record_list_written_twice_keeps_the_records_of_both(tmp_path: Path) -> None:
    """ijson reads every occurrence of the "marches" key; a dict keeps only the last."""
    records = json.loads(AIFE_2019.read_text(encoding="utf-8"))["marches"]
    assert len(records) == 3
    first = json.dumps(records[:1], ensure_ascii=False)
    rest = json.dumps(records[1:], ensure_ascii=False)
    for key in ("marches", "m\\u0061rches"):  # the second spelled with an escape
        path = _copy_with(tmp_path, "deux.json", f'{{"marches": {first}, "{key}": {rest}}}')
        assert records_in_hand(path.read_bytes(), detect(path)) is None
        result, rows = parse_in_memory(path, detect(path), "h" * 64)
        assert result.records == 3
        assert [row["raw_id"] for row in rows] == [str(r["id"]) for r in records]


def test_a_truncated_file_keeps_the_records_before_the_cut(tmp_path: Path) -> None:
    text = AIFE_2019.read_text(encoding="utf-8")
    third = json.loads(text)["marches"][2]["id"]
    path = _copy_with(tmp_path, "coupe.json", text[:text.index(third) + 3])  # within the third
    assert records_in_hand(path.read_bytes(), detect(path)) is None
    result, rows = parse_in_memory(path, detect(path), "h" * 64)
    assert result.status == "partial"
    assert len(rows) == result.records == 2
    assert [e["code"] for e in result.errors] == ["json_invalide"]


def test_a_list_given_as_one_object_is_noted_as_before(tmp_path: Path) -> None:
    data = json.loads(MEGALIS.read_text(encoding="utf-8"))
    data["marches"]["marche"] = data["marches"]["marche"][0]
    path = _copy_with(tmp_path, "objet.json", json.dumps(data, ensure_ascii=False))
    assert records_in_hand(path.read_bytes(), detect(path)) is None
    result, rows = parse_in_memory(path, detect(path), "h" * 64)
    assert result.records == 1
    assert "objet_au_lieu_de_liste" in rows[0]["notes"]


def test_an_empty_record_list_reads_no_record_and_says_so(tmp_path: Path) -> None:
    path = _copy_with(tmp_path, "vide.json", '{"marches": []}')
    assert records_in_hand(path.read_bytes(), detect(path)) == []
    result, rows = parse_in_memory(path, detect(path), "h" * 64)
    assert rows == []
    assert result.status == "rejected"
    assert [e["code"] for e in result.errors] == ["aucun_enregistrement"]


def test_nan_in_a_text_only_is_read_whole_and_kept_as_text(tmp_path: Path) -> None:
    """The bytes "NaN" inside a string: no bare token for the NaN filter to replace, so orjson
    reads the file whole, and the text is kept as written."""
    data = json.loads(MEGALIS.read_text(encoding="utf-8"))
    data["marches"]["marche"][0]["objet"] = "Indice de révision : NaN"
    path = _copy_with(tmp_path, "nan.json", json.dumps(data, ensure_ascii=False))
    det = detect(path)
    assert det.has_nan and det.in_hand is not None
    result, rows = parse_in_memory(path, det, "h" * 64)
    assert rows[0]["raw_object"] == "Indice de révision : NaN"
    assert (result, rows) == _streamed(path)


@pytest.mark.parametrize("path", [MEGALIS, AIFE_2019], ids=lambda p: p.name)
def test_the_document_parsed_by_the_detection_gives_the_rows_of_a_new_parse(path: Path) -> None:
    """A small file is parsed once: the detection keeps its document for the parse."""
    det = detect(path)
    assert det.in_hand is not None and det.in_hand[0] == path.read_bytes()
    reparsed = detect(path)
    reparsed.in_hand = None
    assert parse_in_memory(path, det, "h" * 64) == parse_in_memory(path, reparsed, "h" * 64)
