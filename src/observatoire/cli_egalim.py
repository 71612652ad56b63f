"""``observatoire egalim …``: import catering purchase lines and supplier matrices, review the
description → article mappings, read the results, export the yearly summaries in ma-cantine's
format. Messages to users are in French."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape as _e
from rich.table import Table

from observatoire import formatting
from observatoire.connectors.egalim_imports import ImportOutcome, import_files
from observatoire.connectors.supplier_matrices import import_matrices
from observatoire.console import Context, _add_row, _n, _print_json, out
from observatoire.egalim import export
from observatoire.egalim import service as egalim_service
from observatoire.egalim.correspondences import read_decisions, suggest, write_suggestions
from observatoire.egalim.decisions import ARTICLE_KIND, label_mappings
from observatoire.egalim.nomenclature import Article, read_nomenclature
from observatoire.errors import ConfigError
from observatoire.indicators.profile import load_profile

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


def nomenclature_of(settings: Any) -> list[Article]:
    """The active profile's nomenclature; an error when it has none."""
    profile = load_profile(settings.profile)
    articles = read_nomenclature(profile.nomenclature_file)
    if not articles:
        raise ConfigError(
            f"Le profil « {profile.id} » n'a pas de nomenclature d'articles.",
            where=f"profil « {profile.id} »",
            hint="Ajoutez [egalim] nomenclature = \"egalim/nomenclature.csv\" au profil "
            "(colonnes code;libelle;famille).",
        )
    return articles


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


@egalim.command("matrice")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--fournisseur", "supplier", required=True,
              help="Nom du fournisseur, tel qu'il figure sur les lignes d'achat.")
@click.option("--siret", help="SIRET du fournisseur (rattachement plus sûr que le nom).")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
@click.pass_obj
def matrix_cmd(obj: Context, paths: tuple[Path, ...], supplier: str, siret: str | None,
               as_json: bool) -> None:
    """Importe la matrice d'un fournisseur : labels et origine de chaque article (CSV, XLSX)."""
    from observatoire.stewardship.django_setup import migrate
    from observatoire.stewardship.store import decisions

    # Labels people have already decided are read with that meaning, not reported as unknown.
    migrate(obj.settings)
    decided = label_mappings(decisions(obj.settings).mappings)
    outcomes = import_matrices(obj.settings, list(paths), supplier, siret, decided=decided)
    if as_json:
        _print_json([{"fichier": o.load.file_name, "nouveau": o.new, "statut": o.load.status,
                      "articles": o.load.records,
                      **({"rapport": o.report.to_dict()} if o.report else {})}
                     for o in outcomes])
    for o in outcomes if not as_json else []:
        ld = o.load
        if not o.new:
            out.print(f"[dim]= {_e(ld.file_name)} : déjà importée le {ld.loaded_at[:10]} "
                      "(aucun changement)[/]")
            continue
        report = o.report
        assert report is not None
        colour = {"loaded": "green", "partial": "yellow", "rejected": "red"}[ld.status]
        status = {"loaded": "chargée", "partial": "chargée partiellement",
                  "rejected": "rejetée"}[ld.status]
        out.print(f"[{colour}]{status}[/] {_e(ld.file_name)} — {_e(ld.format_label or '')} — "
                  f"{_n(report.rows_read)} articles lus, {_n(report.kept)} gardés, "
                  f"{_n(report.set_aside)} écartés")
        for e in report.errors[:SHOWN_ERRORS]:
            where = f"ligne {e['line']} : " if e.get("line") else ""
            out.print(f"    • {_e(where)}{_e(e['message'])}\n"
                      f"      Que faire : {_e(e['hint'])}")
        for w in report.warnings[:SHOWN_ERRORS]:
            out.print(f"    [yellow]![/] ligne {w['line']} : {_e(w['message'])}")
        if len(report.warnings) > SHOWN_ERRORS:
            out.print(f"    … et {_n(len(report.warnings) - SHOWN_ERRORS)} autres "
                      "avertissements (sortie --json).")
    if not as_json:
        out.print("Lancez « observatoire build » pour que les achats héritent de ces labels.")
    if any(o.new and o.load.status == "rejected" for o in outcomes):
        sys.exit(1)


@egalim.group("correspondances")
def correspondences() -> None:
    """Rattacher les descriptions des achats aux articles de la nomenclature (décision humaine)."""


def decided_keys(kind: str) -> set[str]:
    """The keys with a mapping in force (application database, Django set up)."""
    from observatoire.stewardship.models import Mapping, MappingStatus

    return set(Mapping.objects.filter(kind=kind, status=MappingStatus.ACCEPTED)
               .values_list("key", flat=True))


@correspondences.command("suggerer")
@click.option("--sortie", "output", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("propositions-correspondances.csv"), show_default=True,
              help="Fichier CSV des propositions à relire.")
@click.option("--toutes", "include_decided", is_flag=True,
              help="Proposer aussi les descriptions déjà décidées.")
@click.pass_obj
def suggest_cmd(obj: Context, output: Path, include_decided: bool) -> None:
    """Propose, pour les achats sans article connu, les articles les plus proches."""
    from observatoire.stewardship.django_setup import migrate

    articles = nomenclature_of(obj.settings)
    migrate(obj.settings)
    decided = set() if include_decided else decided_keys(ARTICLE_KIND)
    with egalim_service.reading(obj.settings) as con:
        lines = egalim_service.lines_without_article(con)
    suggestions = suggest(lines, articles, decided)
    write_suggestions(output, suggestions)
    proposed = sum(1 for s in suggestions if s.candidates)
    out.print(f"{_n(len(suggestions))} description(s) sans article, {_n(proposed)} avec une "
              f"proposition, écrites dans {_e(str(output))}.\n"
              "Relisez le fichier : colonne « decision » = accepter ou refuser, ou un autre code "
              "dans « code_retenu » ; puis « observatoire egalim correspondances decider "
              f"{_e(str(output))} ».")


@correspondences.command("decider")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--par", "decided_by", default=lambda: os.environ.get("USER") or "inconnu",
              show_default="l'utilisateur du système", help="Qui décide (nom ou identifiant).")
@click.pass_obj
def decide_cmd(obj: Context, path: Path, decided_by: str) -> None:
    """Enregistre les décisions d'un fichier de propositions relu, comme décisions d'un
    administrateur (base applicative, journal des changements ; historique conservé)."""
    from observatoire.stewardship.django_setup import migrate

    articles = nomenclature_of(obj.settings)
    reviewed = read_decisions(path, articles)
    decided_by = decided_by.strip() or "inconnu"
    migrate(obj.settings)
    from django.db import transaction

    from observatoire.stewardship.services import record_decision

    written = 0
    with transaction.atomic():  # all or nothing, like the reading of the file
        for r in reviewed:
            reason = (f"Fichier de propositions relu {path.name}, ligne {r.line}"
                      + (f" (proposition {r.proposed_code}, score {r.score:.0f})"
                         if r.proposed_code and r.score is not None else ""))
            details = {"via": "ligne de commande", "source_file": path.name, "line": r.line,
                       "proposed_code": r.proposed_code, "score": r.score}
            if record_decision(decided_by, ARTICLE_KIND, r.description, r.article_code or "",
                               reason, details) is not None:
                written += 1
    accepted = sum(1 for r in reviewed if r.article_code)
    out.print(f"{_n(len(reviewed))} décision(s) lue(s) ({_n(accepted)} acceptée(s), "
              f"{_n(len(reviewed) - accepted)} refusée(s)), {_n(written)} enregistrée(s) par "
              f"{_e(decided_by)} dans la base applicative (les autres étaient déjà en vigueur). "
              "Lancez « observatoire build » pour les appliquer.")
