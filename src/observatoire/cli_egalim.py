"""``observatoire egalim …``: import catering purchase lines, read the results, export the
yearly summaries in ma-cantine's format. Messages to users are in French."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape as _e
from rich.table import Table

from observatoire import formatting
from observatoire.console import Context, _add_row, _n, _print_json, out
from observatoire.egalim import export
from observatoire.egalim import service as egalim_service
from observatoire.egalim.imports import ImportOutcome, import_files

#: Errors printed per file (the JSON output has them all).
SHOWN_ERRORS = 30


@click.group("egalim")
def egalim() -> None:
    """Egalim : achats alimentaires des cantines (import, résultats, bilans ma-cantine)."""


def _print_outcome(o: ImportOutcome) -> None:
    ld = o.load
    if not o.new:
        out.print(f"[dim]= {_e(ld.file_name)} : déjà importé le {ld.loaded_at[:10]} "
                  f"({_e(ld.status)}, aucun changement)[/]")
        return
    report = o.report
    assert report is not None
    colour = {"loaded": "green", "partial": "yellow", "rejected": "red"}[ld.status]
    out.print(
        f"[{colour}]{_e(report.status)}[/] {_e(ld.file_name)} — {_e(ld.format_label or '')} — "
        f"{_n(report.lines_read)} lignes lues, {_n(report.kept)} gardées, "
        f"{_n(report.set_aside)} écartées, {_n(report.blank)} vides"
    )
    for e in report.errors[:SHOWN_ERRORS]:
        where = f"ligne {e.line}" + (f", colonne « {e.column} »" if e.column else "")
        value = f" (valeur « {e.value} »)" if e.value else ""
        out.print(f"    • {_e(where)} : {_e(e.message)}{_e(value)}\n"
                  f"      Que faire : {_e(e.hint)}")
    if report.error_count > SHOWN_ERRORS:
        out.print(f"    … et {_n(report.error_count - SHOWN_ERRORS)} autres erreurs "
                  "(la sortie --json en liste jusqu'à 10 000).")
    for w in report.warnings[:SHOWN_ERRORS]:
        lines = f" ({_n(w.lines)} lignes, dès la ligne {w.first_line})" if w.lines else ""
        out.print(f"    [yellow]![/] {_e(w.message)}{_e(lines)}")
    if ld.status == "rejected" and report.valid_lines:
        out.print(
            "    Rien n'a été chargé. Corrigez les lignes en erreur et réimportez le fichier, "
            f"ou relancez avec --partiel pour garder les {_n(report.valid_lines)} lignes "
            "valides et écarter les autres."
        )


@egalim.command("importer")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--partiel", "accept_partial", is_flag=True,
              help="Garder les lignes valides d'un fichier qui a des lignes en erreur.")
@click.option("--correspondance", "mapping", type=click.Path(path_type=Path, dir_okay=False),
              help="Fichier TOML de correspondance de colonnes (exports autres que ma-cantine).")
@click.option("--source", default="import", show_default=True, help="Nom de la source.")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
@click.pass_obj
def import_cmd(obj: Context, paths: tuple[Path, ...], accept_partial: bool,
               mapping: Path | None, source: str, as_json: bool) -> None:
    """Importe des fichiers de lignes d'achat alimentaire (CSV, TSV, XLSX)."""
    outcomes = import_files(obj.settings, list(paths), accept_partial=accept_partial,
                            mapping_path=mapping, source=source)
    if as_json:
        _print_json([o.to_dict() for o in outcomes])
    else:
        for o in outcomes:
            _print_outcome(o)
        out.print("Lancez « observatoire build » pour mettre à jour les résultats.")
    if any(o.new and o.load.status == "rejected" for o in outcomes):
        sys.exit(1)


def _pct(value: Any) -> str:
    return formatting.percent(value, 1)


@egalim.command("resultats")
@click.option("--annee", "year", type=int, help="Année civile (par défaut la dernière).")
@click.option("--cantine", "canteen", help="Une cantine (SIRET) : ses mois et ses catégories.")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
@click.pass_obj
def results_cmd(obj: Context, year: int | None, canteen: str | None, as_json: bool) -> None:
    """Taux Egalim, bio et viandes-poissons par année, département et cantine."""
    with egalim_service.reading(obj.settings) as con:
        report = (egalim_service.canteen(con, canteen, year) if canteen
                  else egalim_service.overview(con, year))
    if report is None:
        raise click.ClickException(f"Cantine inconnue : {canteen}")
    if as_json:
        _print_json(report)
        return
    if report.get("simulated"):
        out.print("[yellow]Données simulées[/] : les lignes d'achat viennent de la démonstration.")
    title = f"Egalim — {report['info']['nom']}" if canteen else "Egalim — ensemble des cantines"
    table = Table(title=title, title_justify="left")
    for col in ("année", "achats € HT", "Egalim", "bio", "viandes et poissons", "couverture",
                "lignes"):
        table.add_column(col)
    for s in report["series"]:
        _add_row(table, s["year"], _n(s["total"]), _pct(s["egalim_rate"]), _pct(s["bio_rate"]),
                 _pct(s["meat_fish_egalim_rate"]), _pct(s["coverage"]), _n(s["lines"]))
    out.print(table)
    if canteen or not report["series"]:
        return
    table = Table(title=f"Par département en {report['year']}", title_justify="left")
    for col in ("département", "achats € HT", "Egalim", "bio", "viandes et poissons"):
        table.add_column(col)
    for d in report["departements"]:
        _add_row(table, d["name"] or d["scope_key"] or "non rattaché", _n(d["total"]),
                 _pct(d["egalim_rate"]), _pct(d["bio_rate"]), _pct(d["meat_fish_egalim_rate"]))
    out.print(table)
    reached = sum(1 for c in report["canteens"]
                  if (c["egalim_rate"] or 0) >= 0.5 and (c["bio_rate"] or 0) >= 0.2)
    out.print(f"{_n(len(report['canteens']))} cantines avec des achats en {report['year']}, "
              f"dont {_n(reached)} atteignent les seuils légaux (50 % Egalim dont 20 % bio).")


@egalim.command("bilans")
@click.option("--annee", "year", type=int, required=True, help="Année civile des achats.")
@click.option("--cantine", "canteen", help="Une cantine (SIRET) ; par défaut toutes.")
@click.option("--sortie", "output", type=click.Path(path_type=Path, dir_okay=False),
              help="Fichier CSV à écrire (par défaut la sortie standard).")
@click.pass_obj
def summaries_cmd(obj: Context, year: int, canteen: str | None, output: Path | None) -> None:
    """Bilans annuels au format détaillé de ma-cantine, prêts pour la télédéclaration."""
    with egalim_service.reading(obj.settings) as con:
        rows = egalim_service.yearly_summaries(con, year, canteen)
    if not rows:
        which = f" ({canteen})" if canteen else ""
        raise click.ClickException(f"Aucun achat pour {year}{which}.")
    fh = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        writer = csv.DictWriter(fh, fieldnames=export.header(), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    finally:
        if output:
            fh.close()
    if output:
        out.print(f"{_n(len(rows))} bilan(s) écrit(s) dans {_e(str(output))}.")
