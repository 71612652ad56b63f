"""Supplier matrices: per supplier and article, the labels and origin as the supplier writes
them. Named by ``observatoire egalim matrice``, which gives the supplier."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from observatoire.connectors.contract import Connector, Documented, Landed, Parsed, StagingTable

if TYPE_CHECKING:
    from observatoire.egalim.labels import LabelMeaning
    from observatoire.pipeline import BuildContext, Step

KIND = "egalim-matrice"
ROWS = StagingTable("egalim_matrix_rows", "1", KIND)


@dataclass(frozen=True)
class MatrixOptions:
    supplier: str
    siret: str | None = None
    #: Label meanings people decided: read with that meaning, not reported as unknown.
    decided: dict[str, LabelMeaning] = field(default_factory=dict)


def parse(landed: Landed) -> Parsed:
    from observatoire.egalim.matrices import read_matrix

    options: MatrixOptions = landed.options
    out = ROWS.path(landed.settings, landed.sha256)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = read_matrix(landed.original, out, options.supplier, options.siret,
                         options.decided or None)
    return Parsed(
        status=report.status, records=report.kept, format=KIND,
        format_label=f"Matrice du fournisseur « {options.supplier} »"
        + (f" (SIRET {options.siret})" if options.siret else ""),
        errors=report.errors + report.warnings, report=report,
    )


def _matrices(ctx: BuildContext) -> None:
    from observatoire.connectors.egalim_purchases import _decided
    from observatoire.egalim.service import build_matrices

    build_matrices(ctx.con, ctx.settings, ctx.loads, _decided(ctx))


def steps() -> list[Step]:
    from observatoire.pipeline import Step

    return [Step("egalim.matrices", "Egalim : matrices des fournisseurs", _matrices,
                 reads=frozenset({"shared:decisions"}), writes=frozenset({"egalim_matrix"}))]


def tables() -> Documented:
    from observatoire.egalim.dictionary import TABLES

    return {"egalim_matrix": TABLES["egalim_matrix"]}


CONNECTOR = Connector(
    kind=KIND,
    label="Matrices des fournisseurs (labels et origine des articles)",
    parse=parse,
    staging=(ROWS,),
    steps=steps,
    tables=tables,
    expand_archives=False,
    parallel=False,
)
