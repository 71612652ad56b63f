"""Egalim purchase lines of school canteens (ma-cantine's CSV/TSV/XLSX formats, or another
export read through a column mapping). Never guessed from a file: named by
``observatoire egalim importer``, which gives the canteens lines refer to."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from observatoire.connector import Connector, Documented, Landed, Parsed

if TYPE_CHECKING:
    from observatoire.landing.catalog import Load
    from observatoire.pipeline import BuildContext, Step

from observatoire.egalim.kinds import KIND, LINES, LOGGED_ERRORS, STATUS, PurchaseOptions


def parse(landed: Landed) -> Parsed:
    from observatoire.egalim.importer import import_purchases

    options: PurchaseOptions = landed.options
    out = LINES.path(landed.settings, landed.sha256)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = import_purchases(landed.original, out, canteens=options.canteens,
                              mapping=options.mapping, accept_partial=options.accept_partial)
    status = STATUS.get(report.status, "rejected")
    if status == "rejected":
        out.unlink(missing_ok=True)
    return Parsed(
        status=status, records=report.kept, format=report.format,
        format_label=report.format_label, encoding=report.encoding,
        delimiter=report.separator,
        errors=[asdict(e) for e in report.errors[:LOGGED_ERRORS]], report=report,
    )


def parse_again(previous: Load, options: Any) -> bool:
    """A file refused as a whole is read again when its good lines are now accepted."""
    return (previous.kind == KIND and previous.status == "rejected"
            and isinstance(options, PurchaseOptions) and options.accept_partial)


def _decided(ctx: BuildContext) -> list[dict[str, Any]]:
    """The mappings people decided (read once by the corrections step, ``shared:decisions``)."""
    from observatoire.pipeline import DECISIONS

    decisions = ctx.shared.get(DECISIONS)
    return list(decisions.mappings) if decisions is not None else []


def _lines(ctx: BuildContext) -> None:
    from observatoire.egalim.service import build_lines

    build_lines(ctx.con, ctx.settings, ctx.profile, ctx.loads)


def _results(ctx: BuildContext) -> None:
    from observatoire.egalim.service import build_results

    build_results(ctx.con, ctx.profile, _decided(ctx))


def steps() -> list[Step]:
    from observatoire.pipeline import Step

    return [
        Step("egalim.lignes", "Egalim : cantines et lignes d'achat", _lines,
             writes=frozenset({"egalim_canteens", "egalim_declarations", "egalim_lines",
                               "egalim_articles"})),
        Step("egalim.resultats", "Egalim : achats alimentaires des cantines", _results,
             reads=frozenset({"egalim_canteens", "egalim_lines", "egalim_articles",
                              "egalim_matrix", "ref_departements", "shared:decisions"}),
             writes=frozenset({"egalim_contracts", "egalim_line_facts", "egalim_results",
                               "egalim_family_details", "egalim_rules", "egalim_findings",
                               "egalim_canteen_quality", "indicator_purchase_lines",
                               "indicator_canteens"})),
    ]


def tables() -> Documented:
    from observatoire.egalim.dictionary import TABLES

    return {name: doc for name, doc in TABLES.items() if name != "egalim_matrix"}


CONNECTOR = Connector(
    kind=KIND,
    label="Achats alimentaires des restaurants collectifs (Egalim)",
    parse=parse,
    staging=(LINES,),
    steps=steps,
    tables=tables,
    indicator_sources=frozenset({"catering"}),
    parse_again=parse_again,
    # A purchase file is read as the user gave it (an XLSX is a ZIP: never opened as an archive).
    expand_archives=False,
    parallel=False,
)
