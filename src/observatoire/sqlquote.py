"""The one way the code writes a value or a name into SQL text.

Values go in as parameters (``?``) wherever the engine allows it. Where it does not — DuckDB's
``SET``, ``ATTACH``, ``COPY … TO``, file lists of ``read_parquet``, names of tables and
columns — they are written with these functions, never pasted: a data home at
``…/l'observatoire`` or a name holding a quote must stay one literal or one identifier.
"""

from __future__ import annotations

from pathlib import Path


def literal(value: str | Path) -> str:
    """A SQL string literal: ``l'a`` → ``'l''a'`` (quotes doubled; NUL refused, as no engine
    keeps it in a string)."""
    text = str(value)
    if "\x00" in text:
        raise ValueError("a SQL literal cannot hold a NUL character")
    return "'" + text.replace("'", "''") + "'"


def identifier(name: str) -> str:
    """A SQL identifier, always quoted, its double quotes doubled."""
    if "\x00" in name or not name:
        raise ValueError("a SQL identifier is a non-empty text without NUL")
    return '"' + name.replace('"', '""') + '"'


def literal_list(values: list[str] | list[Path]) -> str:
    """A DuckDB list of string literals."""
    return "[" + ", ".join(literal(v) for v in values) + "]"
