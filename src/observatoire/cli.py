"""The ``observatoire`` command line. Messages to users are in French."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.markup import escape as _e
from rich.table import Table
from rich.text import Text

from observatoire import __version__, formatting, reports
from observatoire.build import build, recompute_indicators
from observatoire.cli_collect import collect_cmd, sources_cmd
from observatoire.cli_egalim import egalim
from observatoire.cli_publication import publish_decp_cmd
from observatoire.config import Settings
from observatoire.connectors.ingest import IngestOutcome, ingest, land
from observatoire.console import Context, _add_row, _n, _print_json, err, out
from observatoire.errors import ObservatoireError, storage_error
from observatoire.indicators import payments as payment_indicators
from observatoire.indicators import service as indicator_service
from observatoire.indicators.compute import BASIS_LABELS, STATUS_LABELS
from observatoire.indicators.profile import KINDS, SOURCES, UNITS, load_profile

STATUS_FR = {
    "loaded": "chargé",
    "partial": "incomplet",
    "rejected": "rejeté",
    "succeeded": "réussie",
    "failed": "échouée",
    "running": "en cours",
}
RECORD_STATUS_FR = {"kept": "gardés", "duplicate": "doublons fusionnés", "set_aside": "écartés"}
DEMO_DATA = Path(__file__).resolve().parents[2] / "demo" / "data"


#: The command's context, for main() to name the data home in its messages.
_CONTEXT: Context | None = None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    envvar="OBSERVATOIRE_HOME",
    type=click.Path(file_okay=False),
    help="Dossier de données (par défaut $OBSERVATOIRE_HOME ou ~/.local/share/observatoire).",
)
@click.option(
    "--profile",
    envvar="OBSERVATOIRE_PROFILE",
    help="Profil de déploiement : nom d'un profil livré (demonstration, generique, "
    "region-bretagne) ou dossier.",
)
@click.version_option(__version__, prog_name="observatoire")
@click.pass_context
def cli(ctx: click.Context, home: str | None, profile: str | None) -> None:
    """Observatoire de l'achat public : collecte, vérifie et publie les données des marchés."""
    global _CONTEXT
    ctx.obj = _CONTEXT = Context(home, profile)


def _report_outcome(o: IngestOutcome) -> None:
    ld = o.load
    if not o.new:
        out.print(
            f"[dim]= {_e(ld.file_name)} : déjà chargé le {ld.loaded_at[:10]} (aucun changement)[/]"
        )
        return
    colour = {"loaded": "green", "partial": "yellow", "rejected": "red"}[ld.status]
    counts = (
        f"{_n(ld.records)} enregistrements ({_n(ld.marches)} marchés, "
        f"{_n(ld.concessions)} concessions)"
        if ld.kind == "decp"
        else f"{_n(ld.records)} enregistrements gardés" if ld.kind == "accounting"
        else f"{_n(ld.records)} lignes de référentiel"
    )
    label = ld.format_label or "format non reconnu"
    out.print(
        f"[{colour}]{STATUS_FR[ld.status]}[/] {_e(ld.file_name)} — {_e(label)} — "
        f"{counts if ld.status != 'rejected' else ''}"
    )
    for e in ld.errors:
        # an information line may have nothing to do
        todo = f"\n      Que faire : {_e(e['hint'])}" if e.get("hint") else ""
        out.print(f"    • {_e(e['message'])}\n      Où : {_e(e['where'])}{todo}")


@cli.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--source", help="Nom de la source (par défaut : le flux, nom du fichier sans "
              "ses numéros de publication).")
@click.option("--correspondance", "mapping_path",
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Fichier TOML de correspondance de colonnes : les fichiers sont des exports "
              "comptables ou achats (CSV, XLSX) lus par cette correspondance.")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
@click.pass_obj
def ingest_cmd(obj: Context, paths: tuple[Path, ...], source: str | None,
               mapping_path: Path | None, as_json: bool) -> None:
    """Dépose des fichiers (ou dossiers) DECP, référentiels ou flux comptables (PES V2, Chorus,
    Chorus Pro ; autre export avec --correspondance), et les analyse."""

    def run(on_file: Callable[[IngestOutcome], None] | None) -> list[IngestOutcome]:
        if mapping_path is None:
            return ingest(obj.settings, paths, source, on_file=on_file)
        from observatoire.accounting.exports import ExportMapping

        mapping = ExportMapping.from_toml(mapping_path)  # a bad mapping stops here, in French
        return land(obj.settings, paths, kind="accounting", options=mapping, source=source,
                    on_file=on_file)

    if as_json:
        outcomes = run(None)
    else:
        # Large files take a while to land and parse: keep a live line while they do.
        with out.status("Dépôt et analyse des fichiers…"):
            outcomes = run(_report_outcome)
    new = [o for o in outcomes if o.new]
    rejected = [o for o in new if o.load.status == "rejected"]
    partial = [o for o in new if o.load.status == "partial"]
    if as_json:
        # The load's fields as they are (``asdict`` deep-copies every error list: a second of
        # the main process for 10,000 small files).
        _print_json([{**vars(o.load), "new": o.new} for o in outcomes])
    else:
        out.print(
            f"\n{len(outcomes)} fichier(s) examiné(s), {len(new)} nouveau(x), "
            f"{len(partial)} incomplet(s), {len(rejected)} rejeté(s). Lancez « observatoire "
            "build » pour mettre à jour l'entrepôt."
        )
    # A scheduled job must notice a file it could not read whole (codes in the README).
    if rejected:
        sys.exit(INGEST_REJECTED)
    if partial:
        sys.exit(INGEST_PARTIAL)


#: Exit codes of ``observatoire ingest`` (2 is a usage error, such as a path that does not exist).
INGEST_REJECTED = 1
INGEST_PARTIAL = 3


#: How a build was made (``observatoire build``, ``status``).
_MODES = {"incremental": "incrémentale", "complet": "complète"}


@cli.command("build")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
@click.option("--complet", "complete", is_flag=True,
              help="Construction complète, même quand une construction incrémentale suffit.")
@click.pass_obj
def build_cmd(obj: Context, as_json: bool, complete: bool) -> None:
    """Construit un nouvel entrepôt et le met en service d'un coup (incrémental quand il le
    peut : seuls les marchés que touchent les nouveaux fichiers sont recalculés)."""
    from observatoire.stewardship.django_setup import migrate

    # The corrections live in the application database: bring it up to date first.
    migrate(obj.settings)
    steps: list[str] = []
    with out.status("Construction de l'entrepôt…") as spinner:

        def on_step(label: str) -> None:
            steps.append(label)
            if not as_json:
                spinner.update(f"Construction de l'entrepôt : {label}…")

        summary = build(obj.settings, on_step=on_step, complete=complete)
    if as_json:
        _print_json(
            {
                "build_id": summary.build_id,
                "mode": summary.mode,
                "mode_reason": summary.mode_reason,
                "seconds": summary.seconds,
                "tables": summary.tables,
                "reconciled": summary.reconciled,
                "stale_corrections": summary.stale_corrections,
                "steps": [{"name": s.name, "label": s.label, "started_at": s.started_at,
                           "seconds": s.seconds, "cpu_seconds": s.cpu_seconds, "rows": s.rows}
                          for s in summary.steps],
            }
        )
        return
    out.print(
        f"[green]Entrepôt construit[/] en {_n(summary.seconds)} s (construction n° "
        f"{summary.build_id}, {_e(_MODES.get(summary.mode, summary.mode))} : "
        f"{_e(summary.mode_reason)}) : {_n(summary.tables.get('contracts', 0))} marchés, "
        f"{_n(summary.tables.get('source_records', 0))} enregistrements sources, "
        f"{_n(summary.tables.get('findings', 0))} constats qualité."
    )
    if not summary.tables.get("source_records"):
        out.print(
            "[yellow]Attention[/] : aucun enregistrement DECP dans l'entrepôt. Déposez des "
            "fichiers avec « observatoire ingest CHEMIN » puis relancez la construction."
        )
    if summary.tables.get("corrections_applied"):
        out.print(
            f"Corrections des gestionnaires : {_n(summary.tables['corrections_applied'])} lues, "
            f"dont {_n(summary.stale_corrections)} à revoir (la source a changé)."
        )
    for effect in reports.missing_references(summary.tables):
        out.print(
            f"[yellow]Attention[/] : {_e(effect)} Déposez ce référentiel avec "
            "« observatoire ingest »."
        )
    if not summary.reconciled:
        out.print(
            "[red]Attention : les comptes ne se réconcilient pas pour au moins un fichier "
            "(voir « observatoire status »).[/]"
        )
        sys.exit(1)


def _print_status(report: dict[str, Any]) -> None:
    out.print(f"[bold]Dossier de données[/] : {_e(report['home'])}")
    loads = Table(title="Fichiers chargés", title_justify="left")
    for col in ("n°", "fichier", "source", "format", "enregistrements", "état", "erreurs"):
        loads.add_column(col)
    for ld in report["loads"]:
        _add_row(
            loads,
            str(ld["load_id"]),
            ld["file_name"],
            ld["source"],
            ld["format"] or "—",
            _n(ld["records"]),
            f"remplacé par n° {ld['superseded_by']}"
            if ld["superseded_by"]
            else STATUS_FR[ld["status"]],
            str(len(ld["errors"])),
        )
    out.print(loads)
    for ld in report["loads"]:
        for e in ld["errors"][:3]:
            # Egalim errors say their line and column; DECP file errors say where in the file.
            where = f", ligne {e['line']}, colonne « {e['column']} »" if "line" in e else ""
            out.print(
                f"  [yellow]•[/] n° {ld['load_id']} {_e(ld['file_name'])}{_e(where)} : "
                f"{_e(e['message'])}\n    Que faire : {_e(e['hint'])}"
            )
        if len(ld["errors"]) > 3:
            out.print(f"    … et {_n(len(ld['errors']) - 3)} autres (observatoire status --json).")
    if report["builds"]:
        b = report["builds"][0]
        out.print(
            f"[bold]Dernière construction[/] : n° {b['build_id']}, {STATUS_FR[b['status']]}, "
            f"commencée le {b['started_at']}" + (f" — {_e(b['error'])}" if b["error"] else "")
        )
        if b["summary"].get("mode"):
            out.print(f"Construction {_e(_MODES.get(b['summary']['mode'], b['summary']['mode']))}"
                      f" : {_e(b['summary'].get('mode_reason', ''))}")
        if b["steps"]:
            steps = Table(title="Étapes de cette construction (journal des constructions)",
                          title_justify="left")
            for col in ("étape", "nom"):
                steps.add_column(col)
            for col in ("secondes", "lignes des tables écrites"):
                steps.add_column(col, justify="right")
            for s in b["steps"]:
                _add_row(steps, s["label"], s["name"], formatting.number(s["seconds"], 1),
                         "—" if s["rows"] is None else _n(s["rows"]))
            out.print(steps)
    wh = report["warehouse"]
    if wh is None:
        out.print("Aucun entrepôt en service : lancez « observatoire build ».")
        return
    out.print(
        f"[bold]Entrepôt en service[/] : construction n° {wh['build']['build_id']} du "
        f"{wh['build']['finished_at']}"
    )
    tables = Table(title="Tables", title_justify="left")
    tables.add_column("table")
    tables.add_column("lignes", justify="right")
    for t in wh["tables"]:
        _add_row(tables, t["name"], _n(t["rows"]))
    out.print(tables)
    rec = Table(
        title="Réconciliation : enregistrements lus = gardés + doublons fusionnés + écartés",
        title_justify="left",
    )
    for col in ("fichier", "lus", "gardés", "doublons", "écartés", "équilibre"):
        rec.add_column(col, justify="right" if col != "fichier" else "left")
    for r in wh["reconciliation"]:
        _add_row(
            rec,
            r["file_name"],
            _n(r["records_in"]),
            _n(r["kept"]),
            _n(r["duplicates"]),
            _n(r["set_aside"]),
            Text("oui", style="green") if r["balanced"] else Text("NON", style="red"),
        )
    out.print(rec)
    for effect in wh["missing_references"]:
        out.print(f"[yellow]Attention[/] : {_e(effect)}")
    if wh["source_overlap"]:
        ov = Table(title="Recouvrement entre sources (marchés communs)", title_justify="left")
        for col in ("source A", "source B", "marchés communs"):
            ov.add_column(col)
        for o in wh["source_overlap"]:
            _add_row(ov, o["source_a"], o["source_b"], _n(o["shared_contracts"]))
        out.print(ov)


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
@click.pass_obj
def status_cmd(obj: Context, as_json: bool) -> None:
    """Affiche les chargements, la dernière construction, les tables et la réconciliation."""
    report = reports.status(obj.settings)
    if as_json:
        _print_json(report)
    else:
        _print_status(report)


@cli.command("quality")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
@click.option("--limit", default=20, show_default=True, help="Nombre de lignes listées.")
@click.option("--rule", help="Lister les constats de cette règle (ex. CPV_INVALID).")
@click.option("--file", "file_name", help="Lister les constats de ce fichier source.")
@click.option("--buyer", help="Lister les constats de cet acheteur (SIRET).")
@click.pass_obj
def quality_cmd(
    obj: Context,
    as_json: bool,
    limit: int,
    rule: str | None,
    file_name: str | None,
    buyer: str | None,
) -> None:
    """Rapport qualité : constats par règle, par fichier source et par acheteur.

    Avec --rule, --file ou --buyer : la liste des constats correspondants, avec leur origine.
    """
    if rule or file_name or buyer:
        _print_findings(reports.findings(obj.settings, rule, file_name, buyer, limit), as_json)
        return
    report = reports.quality(obj.settings, limit=limit)
    if as_json:
        _print_json(report)
        return
    counts = ", ".join(
        f"{_n(r['records'])} {RECORD_STATUS_FR[r['status']]}" for r in report["records"]
    )
    out.print(f"Enregistrements : {counts or 'aucun'}")
    t = Table(title="Constats par règle", title_justify="left")
    for col in ("règle", "gravité", "champ", "constat", "nombre"):
        t.add_column(col)
    for r in report["by_rule"]:
        _add_row(t, r["rule_id"], r["severity"], r["field"], r["title"] or "", _n(r["findings"]))
    out.print(t)
    t = Table(title="Par fichier source", title_justify="left")
    for col in ("fichier", "enregistrements", "écartés", "avertissements", "corrections"):
        t.add_column(col)
    for r in report["by_file"]:
        _add_row(
            t,
            r["file_name"],
            _n(r["records"]),
            _n(r["set_aside"]),
            _n(r["warnings"]),
            _n(r["repairs"]),
        )
    out.print(t)
    t = Table(
        title=f"Acheteurs ayant le plus de constats (les {limit} premiers)", title_justify="left"
    )
    for col in ("SIRET", "acheteur", "bloquants", "avertissements", "enregistrements"):
        t.add_column(col)
    for r in report["by_buyer"]:
        _add_row(
            t,
            r["buyer_siret"] or "—",
            r["buyer_name"] or "—",
            _n(r["blocking"]),
            _n(r["warnings"]),
            _n(r["records"]),
        )
    out.print(t)


def _print_findings(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _print_json(report)
        return
    shown = len(report["findings"])
    t = Table(
        title=f"Constats : {_n(report['total'])} (les {shown} premiers)", title_justify="left"
    )
    for col in (
        "règle",
        "gravité",
        "fichier",
        "enr.",
        "ligne",
        "marché ou cantine",
        "valeur publiée",
        "valeur retenue",
    ):
        t.add_column(col)
    for f in report["findings"]:
        _add_row(
            t,
            f["rule_id"],
            f["severity"],
            f["file_name"] or "—",
            _n(f["position"]),
            _n(f["line"]),
            f["uid"] or _canteen_month(f) or "—",
            f["raw_value"] or "—",
            f["value"] or "—",
        )
    out.print(t)
    titles = {f["rule_id"]: f["title"] for f in report["findings"]}
    for rule_id, title in sorted(titles.items()):
        out.print(f"{_e(rule_id)} : {_e(title or '')}")
    if not report["total"]:
        out.print(
            "Aucun constat ne correspond : vérifiez l'identifiant de la règle "
            "(« observatoire rules »), le nom du fichier ou le SIRET."
        )


def _canteen_month(finding: dict[str, Any]) -> str:
    """« cantine 1922…, 02/2025 » for an Egalim finding; empty for the others."""
    if not finding.get("canteen_key"):
        return ""
    return f"cantine {finding['canteen_key']}, {finding['month']:02d}/{finding['year']}"


@cli.command("demo")
@click.pass_context
def demo_cmd(ctx: click.Context) -> None:
    """Charge les données de démonstration, construit l'entrepôt et affiche son état."""
    if not DEMO_DATA.exists():
        raise ObservatoireError(
            "Les données de démonstration sont introuvables.",
            where=str(DEMO_DATA),
            hint="Lancez la commande depuis une copie complète du dépôt.",
        )
    obj: Context = ctx.obj
    out.print(f"Données de démonstration : {_e(str(DEMO_DATA))}")
    with out.status("Dépôt et analyse des fichiers de démonstration…"):
        # The finance flows come in by the same door: the simulated PES set (its README is
        # no flow) and real Chorus extracts.
        outcomes = ingest(
            obj.settings,
            [DEMO_DATA / "decp", DEMO_DATA / "ref",
             *sorted((DEMO_DATA / "pes-simule").glob("*.xml")), DEMO_DATA / "chorus"],
            on_file=_report_outcome,
        )
    if any(o.new and o.load.status == "rejected" for o in outcomes):
        raise ObservatoireError(
            "Un fichier de démonstration a été rejeté.",
            where=str(DEMO_DATA),
            hint="Vérifiez que le dépôt est complet.",
        )
    _demo_catering(obj.settings)
    ctx.invoke(build_cmd, as_json=False)
    _print_status(reports.status(obj.settings))
    _print_barometer(indicator_service.barometer(obj.settings))
    out.print(
        "Gestion des données (/gestion/) : créez d'abord un compte, par exemple "
        "« observatoire accounts create admin --role administrateur »."
    )


def _demo_catering(settings: Settings) -> None:
    """Simulated purchase lines for the profile's canteens (none are published anywhere)."""
    from observatoire.connectors.egalim_imports import import_files
    from observatoire.egalim import service as egalim_service
    from observatoire.egalim.simulation import write_simulated_purchases

    profile = load_profile(settings.profile)
    canteens = egalim_service.read_canteens(profile)
    if not canteens:
        out.print(f"[dim]Egalim : le profil « {_e(profile.id)} » ne liste aucune cantine.[/]")
        return
    declared = {
        siret: years[max(years)]
        for siret, years in egalim_service.declared_ratios(profile).items()
    }
    ratios = {s: (b or 0.0, o or 0.0) for s, (b, o) in declared.items()}
    path = settings.work_dir / "achats-alimentaires-simules.csv"
    with out.status("Egalim : génération des achats simulés des cantines…"):
        articles, matrices, mapping = _demo_matrices(settings, profile)
        lines = write_simulated_purchases(path, canteens, ratios, articles=articles,
                                          matrices=matrices)
        outcome = import_files(settings, [path], source=egalim_service.SIMULATED_SOURCE,
                               mapping=mapping)[0]
    if outcome.load.status != "loaded":
        raise ObservatoireError(
            "Les achats simulés de la démonstration n'ont pas pu être importés.",
            where=str(path),
            hint="Signalez le problème : le générateur et l'import ne s'accordent plus.",
        )
    state = "importées" if outcome.new else "déjà importées"
    out.print(f"Egalim : {_n(lines)} lignes d'achat [yellow]simulées[/] pour "
              f"{_n(len(canteens))} cantines, {state}.")


def _demo_matrices(settings: Settings, profile: Any) -> tuple[Any, Any, Any]:
    """With a nomenclature in the profile: simulated supplier matrices, imported (the demo's
    lines take their labels from them); else nothing (lines in ma-cantine's format)."""
    from observatoire.connectors.supplier_matrices import import_matrices
    from observatoire.egalim import simulation
    from observatoire.egalim.mapping import ColumnMapping
    from observatoire.egalim.nomenclature import read_nomenclature

    articles = [(a.code, a.label, a.family)
                for a in read_nomenclature(profile.nomenclature_file)]
    if not articles:
        return None, None, None
    settings.ensure_home()
    matrices = simulation.write_simulated_matrices(settings.work_dir, articles)
    for supplier in matrices:
        matrix = settings.work_dir / f"matrice-fournisseur-simule-{supplier[-2:]}.csv"
        import_matrices(settings, [matrix], supplier, source="simulation")
    return articles, matrices, ColumnMapping.from_dict(simulation.MAPPING)


def _value(value: Any, unit: str) -> str:
    return formatting.indicator_value(value, unit)


def _target(row: dict[str, Any]) -> str:
    return formatting.target(
        row.get("target_value"), row.get("target_comparator"), row.get("target_date"),
        row.get("unit", ""),
    )


def _print_barometer(report: dict[str, Any]) -> None:
    profile = report["profile"]
    title = f"Indicateurs du SPASER — {profile['name']} ({profile['profile_id']})"
    table = Table(title=title, title_justify="left")
    for col in ("axe", "code", "indicateur", "période", "valeur", "couverture", "cible", "état"):
        table.add_column(col)
    axis = None
    for row in report["indicators"]:
        status = STATUS_LABELS.get(row["status"] or "", "")
        value = _value(row["value"], row["unit"]) if row["available"] else ""
        if not row["available"]:
            status = STATUS_LABELS["unavailable"]
        elif row["measure"] == "distribution":
            value, status = "répartition", f"voir --indicator {row['indicator_id']}"
        elif row["status"] == "small_sample":
            status = formatting.small_sample(row["known_count"])
        elif row["value"] is None:
            status = status or "aucune donnée"
        if row.get("provisional"):
            row = {**row, "period": f"{row['period']} (provisoire)"}
        shown_axis = row["axis_title"] if row["axis_title"] != axis else ""
        axis = row["axis_title"]
        _add_row(
            table, shown_axis, row["code"], row["title"], row["period"] or "", value,
            formatting.percent(row.get("coverage"), 0), _target(row), status,
        )
    out.print(table)
    summary = report.get("summary")
    if summary:
        counts = ", ".join(f"{e['nombre']} {e['libelle']}" for e in summary["etats"]
                           if e["principal"] or e["nombre"])
        out.print(f"Synthèse : {summary['objectifs']} objectifs — {counts} ; "
                  f"{summary['transparence']} indicateurs de transparence (sans cible).")
    reference = profile.get("reference_year")
    if reference is not None:
        provisional = " (provisoire)" if reference >= profile["provisional_from"] else ""
        out.print(
            f"Période de référence : {reference}{provisional}. Une valeur calculée sur moins de "
            f"{profile['min_population']} enregistrements connus n'est pas publiée."
        )


def _print_results(rows: list[dict[str, Any]], units: dict[str, str]) -> None:
    indicators = sorted({r["indicator_id"] for r in rows})
    has_category = any(r.get("category") is not None for r in rows)
    table = Table(title=f"Résultats : {', '.join(indicators)}", title_justify="left")
    columns = ["période", "ventilation", "base", "numérateur", "dénominateur", "valeur",
               "enregistrements", "couverture", "cible", "état"]
    if has_category:
        columns.insert(2, "catégorie")
    if len(indicators) > 1:
        columns.insert(0, "indicateur")
    for col in columns:
        table.add_column(col)
    for r in rows:
        unit = units.get(r["indicator_id"], "")
        group = "ensemble" if r["breakdown"] == "total" else (
            r.get("breakdown_label") or r.get("breakdown_value") or "non renseigné")
        basis = BASIS_LABELS.get(r["basis"], r["basis"])
        cells = [
            r["period"], group, basis,
            formatting.number(r["numerator"]), formatting.number(r["denominator"]),
            _value(r["value"], unit), _n(r["record_count"]), formatting.percent(r.get("coverage")),
            _target({**r, "unit": unit}), STATUS_LABELS.get(r["status"] or "", ""),
        ]
        if has_category:
            cells.insert(2, r.get("category_label") or r.get("category") or "non renseigné")
        if len(indicators) > 1:
            cells.insert(0, r["indicator_id"])
        _add_row(table, *cells)
    out.print(table)


@cli.command("indicators")
@click.option("--indicator", "indicator_id", help="Un indicateur (son id) : tous ses résultats.")
@click.option("--period", help="Une période (année, ou « toutes »).")
@click.option(
    "--breakdown",
    help="Une ventilation (buyer, mandate, purchase_domain, procedure, cpv_division, "
    "supplier_category, supplier_departement, source) ; par défaut l'ensemble.",
)
@click.option("--no-compute", is_flag=True, help="Afficher les résultats sans les recalculer.")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
@click.pass_obj
def indicators_cmd(
    obj: Context,
    indicator_id: str | None,
    period: str | None,
    breakdown: str | None,
    no_compute: bool,
    as_json: bool,
) -> None:
    """Calcule les indicateurs du SPASER sur l'entrepôt en service et affiche le baromètre."""
    settings = obj.settings
    if not no_compute:
        if as_json:
            run = recompute_indicators(settings)
        else:
            with out.status("Calcul des indicateurs…"):
                run = recompute_indicators(settings)
            out.print(
                f"[green]Indicateurs calculés[/] en {_n(run.seconds)} s avec le profil "
                f"« {_e(run.profile.id)} » : {_n(run.results)} résultats, "
                f"{_n(run.history_changes)} nouvelle(s) valeur(s) dans l'historique."
            )
    if indicator_id or period or breakdown:
        rows = indicator_service.results(
            settings, indicator=indicator_id, period=period, breakdown=breakdown or "total"
        )
        if as_json:
            _print_json(rows)
            return
        if not rows:
            out.print("Aucun résultat pour ces critères (vérifiez l'id de l'indicateur).")
            return
        barometer = indicator_service.barometer(settings)
        units = {r["indicator_id"]: r["unit"] for r in barometer["indicators"]}
        _print_results(rows, units)
        return
    report = indicator_service.barometer(settings)
    if as_json:
        _print_json(report)
    else:
        _print_barometer(report)


@cli.command("profile")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
@click.pass_obj
def profile_cmd(obj: Context, as_json: bool) -> None:
    """Vérifie le profil de déploiement et liste son catalogue d'indicateurs."""
    profile = load_profile(obj.settings.profile)
    if as_json:
        _print_json({
            "id": profile.id,
            "name": profile.name,
            "organisation": profile.organisation,
            "files": list(profile.files),
            "directorates": [
                {"id": d.id, "label": d.label, "domains": list(d.domains),
                 "buyers": list(d.buyers)}
                for d in profile.directorates
            ],
            "indicators": [
                {
                    "id": i.id, "version": i.version, "code": i.code, "title": i.title,
                    "axis": i.axis, "kind": i.kind, "unit": i.unit, "source": i.source,
                    "available": i.available,
                    # computed by the payment step in a build that loads its data
                    "available_where_loaded": not i.available and i.collected
                    and i.id in payment_indicators.COMPUTED,
                    "measure": i.measure, "bases": list(i.bases),
                    "targets": [
                        {"value": t.value, "comparator": t.comparator, "date": t.date,
                         "basis": t.basis, "source": t.source}
                        for t in i.targets
                    ],
                }
                for i in profile.indicators
            ],
        })
        return
    # computed by the payment step where payments are loaded: known only at build time
    on_load = [i for i in profile.indicators
               if not i.available and i.collected and i.id in payment_indicators.COMPUTED]
    out.print(
        f"[green]Profil valide[/] : « {_e(profile.id)} » — {_e(profile.name)} "
        f"({len(profile.files)} fichiers, {len(profile.indicators)} indicateurs dont "
        f"{sum(i.available for i in profile.indicators)} calculables aujourd'hui"
        + (f", {len(on_load)} de plus là où leurs données sont chargées" if on_load else "")
        + ")."
    )
    table = Table(title="Catalogue des indicateurs", title_justify="left")
    for col in ("code", "id", "indicateur", "type", "unité", "données", "cibles"):
        table.add_column(col)
    for i in profile.indicators:
        _add_row(
            table, i.code, i.id, i.title, KINDS[i.kind], UNITS[i.unit],
            "disponibles" if i.available
            else f"si chargées : {SOURCES[i.source]}" if i in on_load
            else f"manquantes : {SOURCES[i.source]}",
            str(len(i.targets)),
        )
    out.print(table)
    if not profile.directorates:
        out.print("Le profil ne définit aucune direction (directorates.toml) : les périmètres "
                  "« direction: » des gestionnaires ne sont pas acceptés.")
        return
    directions = Table(title="Directions (périmètres « direction:ID »)", title_justify="left")
    for col in ("id", "direction", "domaines d'achat", "acheteurs"):
        directions.add_column(col)
    for d in profile.directorates:
        _add_row(directions, d.id, d.label, ", ".join(d.domains) or "—",
                 ", ".join(d.buyers) or "—")
    out.print(directions)


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Adresse d'écoute.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port d'écoute.")
@click.option("--processus", "processes", type=click.IntRange(1, 64),
              help="Processus de service (par défaut OBSERVATOIRE_PROCESSUS, sinon un par "
              "cœur).")
@click.option("--threads", default=4, show_default=True, type=int,
              help="Fils de service par processus.")
@click.pass_obj
def serve_cmd(obj: Context, host: str, port: int, processes: int | None, threads: int) -> None:
    """Sert le site public sur l'entrepôt en service, en plusieurs processus (et écrit, en
    arrière-plan, les jeux de données à télécharger de chaque nouvelle construction)."""
    settings = obj.settings
    # The web side reads the same configuration, through the environment.
    os.environ["OBSERVATOIRE_HOME"] = str(settings.home)
    os.environ["OBSERVATOIRE_PROFILE"] = settings.profile
    if not settings.warehouse_path.exists():
        out.print(
            "[yellow]Attention[/] : aucun entrepôt n'est encore construit ; le site l'affichera. "
            "Lancez « observatoire ingest » puis « observatoire build »."
        )
    from observatoire.stewardship.django_setup import migrate
    from observatoire.web.server import serve

    migrate(settings)
    processes = processes or settings.serve_processes
    out.print(f"Site servi sur [bold]http://{_e(host)}:{port}/[/] par {processes} processus de "
              f"{threads} fils (Ctrl+C pour arrêter).")
    serve(settings, host, port, processes, threads)


@cli.command("mcp")
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio",
              show_default=True,
              help="stdio : l'assistant lance la commande et lui parle sur son entrée et sa "
              "sortie ; http : serveur MCP « Streamable HTTP » sur /mcp.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Adresse d'écoute en http (127.0.0.1 : cette machine seulement).")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535),
              help="Port d'écoute en http.")
@click.pass_obj
def mcp_cmd(obj: Context, transport: str, host: str, port: int) -> None:
    """Sert les données aux assistants (protocole MCP) : recherche de marchés, acheteurs,
    titulaires, indicateurs et leurs preuves, opportunités, qualité ; les réponses sont
    celles de l'API publique."""
    from observatoire.agents import server

    settings = obj.settings
    if not settings.warehouse_path.exists():
        # stdout carries the protocol on stdio: every message goes to the error stream
        err.print("[yellow]Attention[/] : aucun entrepôt n'est encore construit ; les outils "
                  "répondront par une erreur. Lancez « observatoire ingest » puis "
                  "« observatoire build ».")
    mcp = server(settings)
    if transport == "stdio":
        mcp.run("stdio")
        return
    err.print(f"Serveur MCP sur [bold]http://{_e(host)}:{port}/mcp[/] (Ctrl+C pour arrêter).")
    mcp.run("streamable-http", host=host, port=port)


@cli.command("rules")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Fichier Markdown à écrire."
)
def rules_cmd(as_json: bool, output: Path | None) -> None:
    """Liste le catalogue des règles de qualité."""
    from observatoire.rulebook import rules_markdown, rules_rows

    if as_json:
        keys = ("rule_id", "severity", "field", "title", "explanation", "hint", "source")
        _print_json([dict(zip(keys, row, strict=True)) for row in rules_rows()])
    elif output:
        output.write_text(rules_markdown(), encoding="utf-8")
    else:
        t = Table(title="Règles de qualité", title_justify="left")
        for col in ("règle", "gravité", "champ", "constat"):
            t.add_column(col)
        for rule_id, severity, field, title, *_ in rules_rows():
            _add_row(t, rule_id, severity, field, title)
        out.print(t)


@cli.command("dictionary")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fichier Markdown à écrire (par défaut : sortie standard).",
)
def dictionary_cmd(output: Path | None) -> None:
    """Écrit le dictionnaire des données de l'entrepôt (Markdown, en anglais)."""
    from observatoire.model.dictionary import markdown

    text = markdown()
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


ROLES_HELP = "administrateur, gestionnaire ou lecteur"


@cli.command("migrate")
@click.pass_obj
def migrate_cmd(obj: Context) -> None:
    """Crée ou met à jour la base applicative (comptes, corrections, journal)."""
    from observatoire.stewardship.django_setup import migrate

    applied = migrate(obj.settings)
    out.print(f"Base applicative à jour ({len(applied)} migration(s) appliquée(s)).")


LEVELS = {"ok": "[green]✔ ok[/]", "attention": "[yellow]! attention[/]",
          "probleme": "[red]✘ problème[/]"}


@cli.command("verifier")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
@click.pass_obj
def verify_cmd(obj: Context, as_json: bool) -> None:
    """Vérifie les réglages de sécurité du déploiement (clé secrète, HTTPS, mandataire inverse,
    droits des fichiers, débogage, base applicative) ; code de sortie 1 s'il y a un problème."""
    from dataclasses import asdict

    from observatoire.deployment import PROBLEM, check_deployment

    checks = check_deployment(obj.settings, os.environ)
    problems = sum(c.level == PROBLEM for c in checks)
    if as_json:
        _print_json({"problems": problems, "checks": [asdict(c) for c in checks]})
    else:
        for c in checks:
            out.print(f"{LEVELS[c.level]}  [bold]{_e(c.subject)}[/] : {_e(c.found)}")
            if c.hint:
                out.print(f"      Que faire : {_e(c.hint)}")
        out.print(f"\n{problems} problème(s) : " + (
            "à corriger avant d'ouvrir le site." if problems else "rien ne s'oppose à la mise "
            "en service."))
    if problems:
        sys.exit(1)


@cli.group("accounts")
def accounts_group() -> None:
    """Comptes de la gestion des données (administrateurs, gestionnaires, lecteurs)."""


@accounts_group.command("create")
@click.argument("username")
@click.option("--role", required=True, help=f"Rôle : {ROLES_HELP}.")
@click.option("--scope", "scopes", multiple=True,
              help="Périmètre d'un gestionnaire, type:valeur (acheteur:SIREN ou SIRET, "
              "cantine:SIRET, direction:ID, une direction du profil) ; plusieurs possibles.")
@click.option("--email", default="",
              help="Adresse électronique : celle du compte de la personne chez le fournisseur "
              "d'identité de l'organisation (OpenID Connect), qui retrouve le compte par elle.")
@click.option("--password", default=None,
              help="Mot de passe (demandé s'il n'est pas donné ; 12 caractères au moins).")
@click.option("--sans-mot-de-passe", "no_password", is_flag=True,
              help="Compte sans mot de passe : il se connecte seulement par le fournisseur "
              "d'identité de l'organisation (--email obligatoire).")
@click.pass_obj
def accounts_create_cmd(obj: Context, username: str, role: str, scopes: tuple[str, ...],
                        email: str, password: str | None, no_password: bool) -> None:
    """Crée un compte (la base applicative est mise à jour d'abord)."""
    if no_password and password is not None:
        raise click.UsageError("--password et --sans-mot-de-passe s'excluent.")
    if not no_password and password is None:
        password = click.prompt("Mot de passe", hide_input=True, confirmation_prompt=True)
    from observatoire.stewardship.django_setup import migrate

    migrate(obj.settings)
    from observatoire.stewardship.services import create_account

    directorates = {d.id: d.label for d in load_profile(obj.settings.profile).directorates}
    account = create_account("ligne de commande", username, password, role, list(scopes),
                             directorates, email=email)
    out.print(f"Compte « {_e(username)} » créé : {_e(account.role_label)}"
              + (f", adresse {_e(email.strip())}" if email.strip() else "")
              + (", sans mot de passe" if no_password else "") + ".")


@accounts_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
@click.pass_obj
def accounts_list_cmd(obj: Context, as_json: bool) -> None:
    """Liste les comptes, leur rôle et leur périmètre."""
    from observatoire.stewardship.django_setup import migrate

    migrate(obj.settings)
    from observatoire.stewardship.models import Account

    rows = [{"identifiant": a.user.get_username(), "email": a.user.email, "role": a.role,
             "perimetre": [f"{s.kind}:{s.value}" for s in a.scopes.all()],
             "actif": a.user.is_active, "mot_de_passe": a.user.has_usable_password()}
            for a in Account.objects.select_related("user").order_by("user__username")]
    if as_json:
        _print_json(rows)
        return
    table = Table(title="Comptes", title_justify="left")
    for col in ("identifiant", "adresse", "rôle", "périmètre", "actif", "mot de passe"):
        table.add_column(col)
    for r in rows:
        _add_row(table, r["identifiant"], r["email"] or "—", r["role"],
                 ", ".join(r["perimetre"]) or "—", "oui" if r["actif"] else "non",
                 "oui" if r["mot_de_passe"] else "non")
    out.print(table)
cli.add_command(collect_cmd)
cli.add_command(sources_cmd)
cli.add_command(egalim)
cli.add_command(publish_decp_cmd)


def _home() -> str:
    """The data home of the command that ran, as the user named it (or its default)."""
    try:
        return str(_CONTEXT.settings.home if _CONTEXT else Settings.from_env().home)
    except ObservatoireError:
        return "le dossier de données"


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        err.print("Interrompu.")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ObservatoireError as exc:
        err.print(f"[red]Erreur[/] : {_e(str(exc))}")
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("Interrompu : l'entrepôt en service n'a pas changé.")
        sys.exit(130)
    except Exception as exc:
        # A full disk or a data home that cannot be written: the user's to fix, said so.
        storage = storage_error(exc, _home())
        if storage is not None:
            err.print(f"[red]Erreur[/] : {_e(str(storage))}")
            sys.exit(2)
        # A defect of the observatoire itself, not a user mistake: say so plainly; the traceback
        # is for developers (OBSERVATOIRE_DEBUG=1).
        if os.environ.get("OBSERVATOIRE_DEBUG"):
            raise
        err.print(
            f"[red]Erreur interne[/] : {type(exc).__name__}: {_e(str(exc))}\n"
            "Que faire : relancez avec OBSERVATOIRE_DEBUG=1 pour le détail et signalez le problème."
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
