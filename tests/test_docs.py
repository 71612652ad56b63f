"""Docs generated from the code stay true: data dictionary and quality rules."""

from __future__ import annotations

from pathlib import Path

from observatoire.model.dictionary import TABLES, markdown
from observatoire.model.payment_dictionary import PAYMENT_TABLES
from observatoire.quality.rules import RULES, SEVERITIES
from observatoire.rulebook import rules_markdown

from .conftest import Warehouse

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_dictionary_matches_a_real_build(demo_warehouse: Warehouse) -> None:
    tables = {t: [c for (c,) in demo_warehouse.rows(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
        [t])] for (t,) in demo_warehouse.rows("SELECT table_name FROM duckdb_tables()")}
    # every build makes the payment tables (empty without accounting files)
    documented = {**TABLES, **PAYMENT_TABLES}
    assert set(tables) == set(documented)
    for name, (_, columns) in documented.items():
        assert list(columns) == tables[name], name


def test_generated_docs_are_current() -> None:
    assert (DOCS / "data-dictionary.md").read_text(encoding="utf-8") == markdown(), (
        "run: observatoire dictionary --output docs/data-dictionary.md")
    assert (DOCS / "quality-rules.md").read_text(encoding="utf-8") == rules_markdown(), (
        "run: observatoire rules --output docs/quality-rules.md")


def test_rules_are_complete() -> None:
    for rule in RULES:
        assert rule.severity in SEVERITIES
        assert rule.title and rule.explanation and rule.hint, rule.id
        assert rule.over in {"record", "holder", "version", "subcontract", "duplicate", "identity"}
    assert len({(r.id, r.field) for r in RULES}) == len(RULES)
