"""Supplier matrices: per supplier and article, the labels and origin as the supplier writes
them. Named by ``observatoire egalim matrice``, which gives the supplier."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from observatoire.connector import Connector, Documented, Landed, Parsed
from observatoire.egalim.kinds import MATRIX_KIND as KIND
from observatoire.egalim.kinds import ROWS, MatrixOptions
from observatoire.errors import ConfigError

if TYPE_CHECKING:
    from observatoire.config import Settings
    from observatoire.egalim.labels import LabelMeaning
    from observatoire.egalim.matrices import MatrixReport
    from observatoire.landing.catalog import Load
    from observatoire.pipeline import BuildContext, Step


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


@dataclass
class MatrixOutcome:
    load: Load
    new: bool
    report: MatrixReport | None = None


def import_matrices(
    settings: Settings, paths: list[Path], supplier: str, siret: str | None = None,
    source: str = "import", decided: dict[str, LabelMeaning] | None = None,
) -> list[MatrixOutcome]:
    """Land, read and log every matrix file under ``paths`` for one supplier (``decided``: the
    label mappings in force, see :func:`read_matrix`): the one landing loop, with the matrix
    kind named."""
    from observatoire.connectors.ingest import land

    supplier = supplier.strip()
    if not supplier:
        raise ConfigError("Le nom du fournisseur est vide.", where="--fournisseur",
                          hint="Donnez le nom du fournisseur tel qu'il figure sur les achats.")
    siret = (siret or "").replace(" ", "") or None
    if siret is not None and not (siret.isdigit() and len(siret) == 14):
        raise ConfigError(f"SIRET « {siret} » invalide (14 chiffres attendus).", where="--siret",
                          hint="Donnez le SIRET du fournisseur, ou omettez l'option.")
    options = MatrixOptions(supplier, siret, dict(decided or {}))
    return [MatrixOutcome(o.load, o.new, o.report)
            for o in land(settings, paths, kind=KIND, options=options, source=source)]
