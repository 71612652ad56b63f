"""``observatoire collect`` and ``observatoire sources``: continuous collection of the sources
declared in the profile's ``sources.toml`` (see :mod:`observatoire.collect`)."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.markup import escape as _e
from rich.table import Table
from rich.text import Text

from observatoire.console import Context, _add_row, _n, _print_json, err, out
from observatoire.errors import ObservatoireError


def _print_round(result: Any) -> None:
    for s in result.sources:
        line = (f"{_e(s.source_id)} : {s.files} fichier(s), {s.new} nouveau(x), "
                f"{s.unchanged} inchangé(s), {s.rejected} rejeté(s)")
        out.print(f"[red]✗[/] {line} — {_e(s.error)}" if s.error else f"[green]✓[/] {line}")
    if result.built:
        out.print(f"Entrepôt reconstruit (construction n° {result.build_id}).")
    elif result.build_error:
        out.print(f"[yellow]Construction reportée au prochain passage[/] : "
                  f"{_e(result.build_error)}")


def _round_json(result: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {"sources": [asdict(s) for s in result.sources], "construit": result.built,
            "construction": result.build_id, "erreur_construction": result.build_error,
            "echec": result.failed}


@click.command("collect")
@click.option("--continu", "continuous", is_flag=True,
              help="Tourner sans fin (arrêt propre sur SIGTERM ou Ctrl+C).")
@click.option("--source", "only", help="Seulement cette source (même si elle n'est pas due).")
@click.option("--intervalle", default=5.0, show_default=True, type=float,
              help="Avec --continu : secondes au plus entre deux passages (sous Linux, un "
              "fichier déposé réveille aussitôt la collecte).")
@click.option("--stabilite", default=2.0, show_default=True, type=click.FloatRange(min=0),
              help="Secondes sans changement avant qu'un fichier déposé soit pris (une copie "
              "peut être en cours ; 0 : fichiers déposés d'un coup, par renommage). Sous Linux, "
              "avec --continu, un fichier renommé dans le dossier ou refermé après écriture est "
              "pris aussitôt.")
@click.option("--json", "as_json", is_flag=True,
              help="Sortie JSON (avec --continu : une ligne par passage qui a fait quelque chose).")
@click.pass_obj
def collect_cmd(obj: Context, continuous: bool, only: str | None, intervalle: float,
                stabilite: float, as_json: bool) -> None:
    """Collecte les sources déclarées dans sources.toml (profil), puis construit l'entrepôt.

    Sans --continu : un passage sur chaque source due. Code de sortie 1 si une source a
    échoué, un fichier a été rejeté ou la construction n'a pas pu se faire ; 2 si la
    configuration est fausse ; 0 sinon. Avec --continu : un passage au plus toutes les
    --intervalle secondes, jusqu'à SIGTERM ou Ctrl+C (code 0).
    """
    import json
    import signal
    import threading

    from observatoire.collect.runner import collect_once, run_forever
    from observatoire.collect.sources import read_sources, sources_file
    from observatoire.stewardship.django_setup import migrate

    settings = obj.settings
    if not read_sources(settings):
        raise ObservatoireError(
            "Le profil ne déclare aucune source.", where=str(sources_file(settings)),
            hint="Déclarez les sources dans sources.toml (voir le README, « Collecte "
            "continue »).")
    # The builds read the corrections of the application database: bring it up to date once.
    migrate(settings)
    if not continuous:
        result = collect_once(settings, only, settle=stabilite)
        if as_json:
            _print_json(_round_json(result))
        else:
            _print_round(result)
        if result.failed:
            sys.exit(1)
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def report(result: Any) -> None:
        if not (result.built or result.build_error or any(
                s.files or s.error for s in result.sources)):
            return  # quiet when nothing happened
        if as_json:
            click.echo(json.dumps(_round_json(result), ensure_ascii=False))
        else:
            _print_round(result)

    if not as_json:
        out.print(f"Collecte continue (profil « {_e(settings.profile)} ») : arrêt par "
                  "SIGTERM ou Ctrl+C.")
    def failed(exc: ObservatoireError) -> None:
        err.print(f"[red]Erreur[/] : {_e(str(exc))}")

    run_forever(settings, stop, poll=intervalle, on_round=report, on_error=failed, only=only,
                settle=stabilite)
    if not as_json:
        out.print("Collecte arrêtée proprement.")


def _when(stamp: str | None) -> str:
    """An ISO timestamp (UTC) as « 2026-12-07 07:41 UTC »; other texts as they are."""
    if not stamp:
        return "—"
    if len(stamp) >= 16 and stamp[10] == "T":
        return f"{stamp[:10]} {stamp[11:16]} UTC"
    return stamp


@click.command("sources")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
@click.pass_obj
def sources_cmd(obj: Context, as_json: bool) -> None:
    """État des sources : dernier succès, dernière erreur, retard, enregistrements, prochain
    passage. Code de sortie 1 si une source est en échec ou en retard."""
    from observatoire.collect.health import health
    from observatoire.collect.sources import sources_file

    rows = health(obj.settings)
    if as_json:
        _print_json(rows)
    elif not rows:
        out.print(f"Le profil ne déclare aucune source ({_e(str(sources_file(obj.settings)))}).")
    else:
        table = Table(title="Sources", title_justify="left")
        for col in ("source", "type", "où", "fréquence", "dernier succès", "retard",
                    "enregistrements", "prochain passage", "état"):
            table.add_column(col)
        for r in rows:
            state = ("en échec" if r["failing"] else "en retard" if r["late"]
                     else "jamais reçu" if r["never"] else "à jour")
            _add_row(table, r["id"], r["kind_label"], r["where"], r["frequence"],
                     _when(r["last_success"]), r["lag"] or "—", _n(r["records"]),
                     _when(r["next_run"]), Text(state, style="red" if state in (
                         "en échec", "en retard") else "green" if state == "à jour" else ""))
        out.print(table)
        for r in rows:
            if r["failing"]:
                out.print(f"[red]•[/] {_e(r['id'])} : {_e(r['last_error'])} "
                          f"(le {_e(_when(r['last_error_at']))})")
    if any(r["failing"] or r["late"] for r in rows):
        sys.exit(1)
