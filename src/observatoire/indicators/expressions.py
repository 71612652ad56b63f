"""The small SQL expression language of the indicator catalogue.

Catalogue files write populations, conditions and measured values as SQL expressions over the
columns of one fact table (``kind = 'marche' AND amount > 25000``). They are parsed with sqlglot
and checked before anything runs: only known columns, literals, comparisons, boolean logic,
arithmetic, ``CASE`` and a short list of functions that every engine we target (DuckDB, Spark,
PostgreSQL) understands. The checked tree is rendered back to SQL by sqlglot, so no text from a
catalogue file ever reaches the database unparsed.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

#: Node types an expression may contain (besides columns and the functions below).
_ALLOWED_NODES: tuple[type[exp.Expression], ...] = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Paren,
    exp.And,
    exp.Or,
    exp.Not,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.Is,
    exp.In,
    exp.Between,
    exp.Like,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Neg,
    exp.Case,
    exp.If,
    exp.Coalesce,
    exp.Abs,
    exp.Tuple,
    exp.Interval,
    exp.Var,
    exp.Cast,
    exp.DataType,
)

#: Aggregates allowed at the top of a ``ratio`` measure's numerator and denominator.
_AGGREGATES: tuple[type[exp.Expression], ...] = (exp.Sum, exp.Count)


class ExpressionError(ValueError):
    """An expression of the catalogue is not valid; the message is in French."""


@dataclass(frozen=True)
class Checked:
    """A checked expression: its SQL (DuckDB dialect) and the columns it reads."""

    sql: str
    columns: frozenset[str]


def _parse(text: str) -> exp.Expression:
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("l'expression est vide")
    try:
        tree = sqlglot.parse_one(text, dialect="duckdb")
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        detail = first.get("description", str(error).splitlines()[0])
        col = first.get("col")
        where = f" (colonne {col})" if col else ""
        raise ExpressionError(f"expression SQL illisible{where} : {detail}") from error
    if tree is None:
        raise ExpressionError("l'expression est vide")
    return tree  # type: ignore[return-value]


def _check_tree(tree: exp.Expression, fields: dict[str, str], allow_aggregates: bool) -> None:
    for node in tree.walk():
        if isinstance(node, exp.Column):
            if node.table:
                raise ExpressionError(
                    f"« {node.sql()} » : écrivez le nom de la colonne seul, sans table"
                )
            if node.name not in fields:
                known = ", ".join(sorted(fields))
                raise ExpressionError(
                    f"champ inconnu « {node.name} » ; champs disponibles : {known}"
                )
        elif allow_aggregates and isinstance(node, (*_AGGREGATES, exp.Distinct)):
            continue
        elif isinstance(node, (exp.Subquery, exp.Select, exp.Query)):
            raise ExpressionError("les sous-requêtes ne sont pas permises")
        elif not isinstance(node, _ALLOWED_NODES):
            name = node.sql(dialect="duckdb") if isinstance(node, exp.Func) else node.key
            raise ExpressionError(f"« {name} » n'est pas permis dans une expression du catalogue")


def check(text: str, fields: dict[str, str]) -> Checked:
    """Parse and check a row-level expression over ``fields`` (name → SQL type)."""
    tree = _parse(text)
    _check_tree(tree, fields, allow_aggregates=False)
    columns = frozenset(c.name for c in tree.find_all(exp.Column))
    return Checked(tree.sql(dialect="duckdb"), columns)


def check_aggregate(text: str, fields: dict[str, str]) -> Checked:
    """Parse and check ``sum(expr)``, ``count(*)``, ``count(expr)`` or ``count(DISTINCT expr)``."""
    tree = _parse(text)
    if not isinstance(tree, _AGGREGATES):
        raise ExpressionError(
            "un numérateur ou dénominateur de ratio s'écrit sum(…), count(*), count(…) ou "
            "count(DISTINCT …)"
        )
    inner = [n for n in tree.walk() if n is not tree and isinstance(n, _AGGREGATES)]
    if inner:
        raise ExpressionError("un agrégat ne peut pas en contenir un autre")
    _check_tree(tree, fields, allow_aggregates=True)
    columns = frozenset(c.name for c in tree.find_all(exp.Column))
    return Checked(tree.sql(dialect="duckdb"), columns)


def to_dialect(sql: str, dialect: str) -> str:
    """Render a query written in DuckDB's dialect for another engine (raises if unsupported)."""
    return ";\n".join(
        sqlglot.transpile(
            sql,
            read="duckdb",
            write=dialect,
            unsupported_level=sqlglot.ErrorLevel.RAISE,
        )
    )
