"""Shared fixtures: the real demo files, and a warehouse built from them once per session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from observatoire.config import Settings
from observatoire.landing.ingest import ingest
from observatoire.model.build import build

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass
class Warehouse:
    """A built data home and a read-only connection to its warehouse."""

    settings: Settings
    con: duckdb.DuckDBPyConnection

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()

    def value(self, sql: str, params: list[Any] | None = None) -> Any:
        row = self.con.execute(sql, params or []).fetchone()
        return row[0] if row else None


def make_warehouse(home: Path, *paths: Path) -> Warehouse:
    settings = Settings(home=home)
    ingest(settings, list(paths))
    build(settings)
    return Warehouse(settings, duckdb.connect(str(settings.warehouse_path), read_only=True))


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """The demo data (real DECP files and reference extracts), ingested and built once."""
    wh = make_warehouse(tmp_path_factory.mktemp("demo-home"), DEMO / "decp", DEMO / "ref")
    yield wh
    wh.con.close()
