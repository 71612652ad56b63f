"""A PES Dépense file read in parts side by side (``accounting/pes_split.py``) gives what one
read gives: every row (every column, positions and line numbers of the whole file included),
every finding in the same order with the same lines, the same caps, counts and bordereau
checks; and where the parts cannot tell (a bordereau in two parts, broken XML), the file is
read in one go (``result.parts`` says which happened).

The one-read result is itself checked against the file elsewhere (``test_accounting_pes``:
every column against an independent reading); here the expected values are that result, plus
what the generated file holds by construction (written next to each assertion).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from observatoire.accounting.pes import read_pes
from observatoire.accounting.pes_common import PesResult
from observatoire.accounting.pes_split import _find, plan

PES = Path(__file__).parent / "fixtures" / "accounting" / "pes"
TWO = PES / "pes_depense_two_batches.xml"
#: Bordereaux of the generated file: each of its 3 parts has more than 200 schema findings.
COPIES = 240


def everything(result: PesResult) -> dict:
    return {"rows": result.tables["payment_lines"].to_pylist() if result.tables else [],
            "findings": [f.as_dict() for f in result.findings],
            "not_listed": result.findings_not_listed, "counts": result.counts(),
            "batches": result.batches, "status": result.status, "rows_written": result.rows,
            "revision": result.revision, "signed": result.signed, "state": result.state}


def split_and_whole(path: Path, workers: int = 2) -> tuple[PesResult, PesResult]:
    return read_pes(path, workers=workers, split_from_bytes=0), read_pes(path)


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TWO's first bordereau 240 times (IdBord 1 to 240), every TypPce made 99 (outside the
    official list: one schema finding per pièce, 3 a bordereau, 720 in all, beyond the cap of
    200 in each part too), the 70th announcing 100 € too much; then TWO's annulation
    bordereau."""
    text = TWO.read_text(encoding="latin-1")
    lines = text.split("\n")
    first, second = "\n".join(lines[30:206]), "\n".join(lines[206:258])
    copies = []
    for n in range(1, COPIES + 1):
        copy = re.sub(r'<TypPce V="\d+"/>', '<TypPce V="99"/>', first).replace(
            '<IdBord V="1234567"/>', f'<IdBord V="{n}"/>')
        if n == 70:
            copy = copy.replace('<MtBordHT V="52100.25"/>', '<MtBordHT V="52200.25"/>')
        copies.append(copy)
    path = tmp_path_factory.mktemp("split") / "many.xml"
    path.write_text("\n".join([*lines[:30], *copies, second, *lines[258:]]),
                    encoding="latin-1")
    return path


@pytest.mark.parametrize("name", ["pes_depense_two_batches.xml", "pes_depense_wrong_totals.xml",
                                  "pes_depense_schema_broken.xml", "pes_depense_signed.xml",
                                  "pes_depense_latin1_declared_utf8.xml"])
def test_fixture_read_in_two_parts_equals_one_read(name: str) -> None:
    split, whole = split_and_whole(PES / name)
    assert (split.parts, whole.parts) == (2, 1)
    assert everything(split) == everything(whole)


def test_many_bordereaux_in_three_parts_give_the_rows_findings_and_caps_of_one_read(
        many: Path) -> None:
    split, whole = split_and_whole(many, workers=3)
    assert split.parts == 3
    assert everything(split) == everything(whole)
    # By construction: 240 × 5 lines + 1 (the annulation) in, one duplicate line a bordereau
    # (the 4th: 834/1 again)
    assert (split.records_in, split.kept, split.duplicates) == (1201, 961, 240)
    assert split.bordereaux == 241
    # 720 schema findings and 240 duplicate lines: 200 of each listed, the rest counted
    assert split.findings_not_listed == {"PES_SCHEMA_VIOLATION": 520, "PES_DUPLICATE_LINE": 40}
    [total] = [f for f in split.findings if f.code == "PES_BATCH_TOTAL_MISMATCH"]
    assert total.record == "bordereau n° 70 (exercice 2009)"
    # Lines are the file's: each row's line holds its <LigneDePiece>, each finding's line
    # the element it names, whatever part it was read in
    text = many.read_text(encoding="latin-1").split("\n")
    rows = split.tables["payment_lines"].to_pylist()
    assert all(text[r["line"] - 1].strip() == "<LigneDePiece>" for r in rows)
    assert [r["position"] for r in rows] == [p for p in range(1, 1202) if (p - 1) % 5 != 3]
    assert text[total.line - 1].strip().startswith("<BlocBordereau")
    assert all("<TypPce V=\"99\"/>" in text[f.line - 1] for f in split.findings
               if f.code == "PES_SCHEMA_VIOLATION")


def test_cuts_fall_right_after_a_bordereau(many: Path) -> None:
    parts = plan(many, 3)
    assert parts is not None and len(parts) == 3
    data = many.read_bytes()
    assert parts[0].start == 0
    assert all(data[:p.start].endswith(b"</Bordereau>") for p in parts[1:])
    assert [p.end for p in parts] == [p.start for p in parts[1:]] + [None]
    assert parts[1].prefix.count(b"\n") == 0 and parts[1].buyer_id == "12345678912345"


def test_file_search_finds_a_tag_across_the_boundary_of_two_reads(tmp_path: Path) -> None:
    """The cut points are searched by reads of 1 MiB (not a memory map of the whole file): a
    tag that straddles two reads is found where ``bytes.find`` on the whole file finds it."""
    needle = b"</Bordereau>"
    for offset in (-len(needle), -5, -1, 0, 1):
        data = b"x" * ((1 << 20) + offset) + needle + b"y" * 100 + needle
        path = tmp_path / f"at{offset}.xml"
        path.write_bytes(data)
        with path.open("rb") as fh:
            assert _find(fh, needle, 0) == data.find(needle)
            assert _find(fh, needle, data.find(needle) + 1) == data.rfind(needle)
            assert _find(fh, needle, data.rfind(needle) + 1) == -1


def test_bordereau_met_in_two_parts_makes_the_file_be_read_in_one_go(tmp_path: Path) -> None:
    text = TWO.read_text(encoding="latin-1").split("\n")
    first, second = text[30:206], text[206:258]
    path = tmp_path / "twice.xml"
    # bordereau 1234567, the annulation bordereau, then 1234567 again: cut apart in two parts
    path.write_text("\n".join([*text[:30], *first, *second, *first, *text[258:]]),
                    encoding="latin-1")
    split, whole = split_and_whole(path)
    assert split.parts == 1
    assert everything(split) == everything(whole)
    assert [f.code for f in split.findings].count("PES_DUPLICATE_BATCH") == 1


def test_broken_part_makes_the_file_be_read_in_one_go(tmp_path: Path) -> None:
    text = TWO.read_text(encoding="latin-1").split("\n")
    path = tmp_path / "broken.xml"
    # an unclosed element in the second bordereau: the second part does not parse
    text[230] = text[230] + "<Oops>"
    path.write_text("\n".join(text), encoding="latin-1")
    split, whole = split_and_whole(path)
    assert split.parts == 1
    assert everything(split) == everything(whole)
    assert "PES_XML_INVALID" in [f.code for f in split.findings]


def test_lines_past_65535_are_unknown_in_one_read_and_known_in_parts(tmp_path: Path) -> None:
    """libxml2 keeps an element's line in 16 bits: past line 65,535 one read says the line is
    unknown (None), never a wrong number; two parts of ~35,000 lines each know them all."""
    text = TWO.read_text(encoding="latin-1").split("\n")
    first = text[30:206]  # 176 lines a bordereau
    copies = [line.replace('<IdBord V="1234567"/>', f'<IdBord V="{n}"/>')
              for n in range(1, 401) for line in first]  # 70,400 lines
    path = tmp_path / "long.xml"
    path.write_text("\n".join([*text[:30], *copies, *text[258:]]), encoding="latin-1")
    split, whole = split_and_whole(path)
    assert split.parts == 2
    file_lines = path.read_text(encoding="latin-1").split("\n")
    assert len(file_lines) > 70_000
    split_rows = split.tables["payment_lines"].to_pylist()
    whole_rows = whole.tables["payment_lines"].to_pylist()
    assert [{**r, "line": None} for r in split_rows] == [{**r, "line": None} for r in whole_rows]
    # in parts: every row's line holds its <LigneDePiece>, past 65,535 too
    assert all(file_lines[r["line"] - 1].strip() == "<LigneDePiece>" for r in split_rows)
    assert max(r["line"] for r in split_rows) > 70_000
    # in one read: the same lines up to 65,534, unknown from 65,535 on
    assert [r["line"] if r["line"] < 65_535 else None for r in split_rows] == [
        r["line"] for r in whole_rows]
    assert whole_rows[-1]["line"] is None and whole.batches[-1].line == 0
