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
    "MARCHE", "CODE POSTAL", "  Procédure   adaptée ", "Appel d’offres ouvert", "Maîtrise d'Œuvre"]


@pytest.mark.parametrize("value", VALUES)
def test_python_and_sql_keys_agree(con: duckdb.DuckDBPyConnection, value: str) -> None:
    assert con.execute("SELECT enum_key(?)", [value]).fetchone() == (key(value),)


def test_key_examples() -> None:
    assert key("Appel d’offres ouvert") == "appel d'offres ouvert"
    assert key("MARCHE") == key("Marché") == "marche"
    assert key("Maîtrise d'Œuvre") == "maitrise d'oeuvre"
