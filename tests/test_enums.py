"""Controlled vocabularies: the Python key and the SQL macro agree."""

from __future__ import annotations

import duckdb
import pytest

from observatoire.model.clean import MACROS
from observatoire.quality.enums import CANONICAL, OBSOLETE, key


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    for statement in MACROS.split(";"):
        if statement.strip():
            c.execute(statement)
    return c


VALUES = [v for values in CANONICAL.values() for v in values] + [
    old for mapping in OBSOLETE.values() for old in mapping] + [
    "MARCHE", "CODE POSTAL", "  Procédure   adaptée ", "Appel d’offres ouvert", "Maîtrise d'Œuvre",
    "Appel d offres ouvert", "APPEL D'OFFRES  OUVERT.", "HORS_UE", "Accord cadre",
    "Procédure\tadaptée"]


@pytest.mark.parametrize("value", VALUES)
def test_python_and_sql_keys_agree(con: duckdb.DuckDBPyConnection, value: str) -> None:
    assert con.execute("SELECT enum_key(?)", [value]).fetchone() == (key(value),)


def test_key_examples() -> None:
    assert key("Appel d’offres ouvert") == "appel d offres ouvert"
    assert key("MARCHE") == key("Marché") == "marche"
    assert key("Maîtrise d'Œuvre") == "maitrise d oeuvre"


@pytest.mark.parametrize(
    ("variant", "field", "canonical"),
    [
        ("Appel d offres ouvert", "procedure", "Appel d'offres ouvert"),
        ("Appel doffres ouvert", "procedure", None),  # a missing letter is not punctuation
        ("APPEL D'OFFRES RESTREINT", "procedure", "Appel d'offres restreint"),
        ("Procédure adaptée.", "procedure", "Procédure adaptée"),
        ("Code-postal", "place_type", "Code postal"),
        ("Maitrise d oeuvre", "ccag", "Maitrise d'œuvre"),
        ("Pas-de groupement", "grouping", "Pas de groupement"),
    ],
)
def test_punctuation_and_spacing_variants_match(variant: str, field: str,
                                                canonical: str | None) -> None:
    by_key = {key(v): v for v in CANONICAL[field]}
    assert by_key.get(key(variant)) == canonical


def test_no_two_values_of_a_field_share_a_key() -> None:
    for field, values in CANONICAL.items():
        assert len({key(v) for v in values}) == len(values), field
