"""What every CLI command shares: the consoles, French numbers, JSON output, the context."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from observatoire.config import Settings

# Wide enough for the tables when the output is a pipe or a file (rich would assume 80 columns).
_WIDTH = shutil.get_terminal_size((140, 40)).columns
out = Console(highlight=False, width=_WIDTH)
err = Console(stderr=True, highlight=False, width=_WIDTH)

def _add_row(table: Table, *cells: Any) -> None:
    """Add a row whose text is shown as is (data never goes through rich's markup)."""
    table.add_row(*(c if isinstance(c, Text) else Text(str(c)) for c in cells))


def _json_default(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):  # amounts are numbers in JSON, as on the web side
        return float(value)
    return str(value)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default))


def _n(value: Any) -> str:
    """A number in French format (narrow no-break space between thousands)."""
    if value is None:
        return "—"
    if isinstance(value, (float, Decimal)):
        return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",")
    return f"{value:,}".replace(",", "\u202f")


class Context:
    def __init__(self, home: str | None, profile: str | None = None) -> None:
        self.home = home
        self.profile = profile

    @property
    def settings(self) -> Settings:
        settings = Settings.from_env(self.home)
        return replace(settings, profile=self.profile) if self.profile else settings


