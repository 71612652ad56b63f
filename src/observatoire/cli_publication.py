"""``observatoire publier-decp``: the DECP 2024 file a buyer must publish (see
:mod:`observatoire.publication.decp`)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
from rich.markup import escape as _e

from observatoire.console import Context, _n, _print_json, out
from observatoire.errors import ObservatoireError

#: Exit code when contracts (or subcontracting acts) had to be left out of the file.
PUBLICATION_PARTIAL = 3


@click.command("publier-decp")
@click.option("--acheteur", "siret", required=True, help="SIRET de l'acheteur (14 chiffres).")
@click.option("--sortie", "path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Fichier à écrire.")
@click.option("--format", "fmt", type=click.Choice(["json", "xml"]), default="json",
              show_default=True, help="JSON (schéma 2.0.3) ou XML (schéma 2.0.2).")
@click.option("--json", "as_json", is_flag=True, help="Compte rendu en JSON.")
@click.pass_obj
def publish_decp_cmd(obj: Context, siret: str, path: Path, fmt: str, as_json: bool) -> None:
    """Écrit le fichier DECP 2024 que l'acheteur doit publier, à partir de ses marchés."""
    from observatoire.publication import decp

    siret = siret.strip().replace(" ", "")
    if not re.fullmatch(r"\d{14}", siret):
        raise ObservatoireError(f"SIRET « {siret} » invalide.", where="--acheteur",
                                hint="Donnez les 14 chiffres du SIRET de l'acheteur.")
    publication = decp.buyer_publication(obj.settings, siret)
    written = bool(publication.marches)
    if written:
        decp.write(publication, path, fmt)
    if as_json:
        _print_json({
            "acheteur": siret, "fichier": str(path) if written else None, "format": fmt,
            "marches_ecrits": len(publication.marches),
            "marches_ecartes": [{"id": s.contract_id, "raisons": s.problems}
                                for s in publication.set_aside],
            "actes_sous_traitance_ecartes": [
                {"marche": s.contract_id, "acte": s.act_id, "raisons": s.problems}
                for s in publication.acts_left_out],
            "concessions_non_ecrites": publication.concessions})
    else:
        if written:
            schema = "JSON 2.0.3" if fmt == "json" else "XML 2.0.2"
            out.print(f"[green]Écrit[/] {_e(str(path))} : {_n(len(publication.marches))} marché(s) "
                      f"sur {_n(publication.contracts_seen)} de l'acheteur {siret}, conforme(s) "
                      f"au schéma officiel DECP ({schema}).")
        if publication.set_aside:
            out.print(f"[yellow]{_n(len(publication.set_aside))} marché(s) non publiable(s)[/] "
                      "(non écrits) :")
            for s in publication.set_aside:
                out.print(f"  • {_e(s.message())}")
        if publication.acts_left_out:
            out.print(f"[yellow]{_n(len(publication.acts_left_out))} acte(s) de sous-traitance "
                      "incomplet(s)[/] (non écrits ; leur marché l'est s'il est complet) :")
            for s in publication.acts_left_out:
                out.print(f"  • {_e(s.message())}")
        if publication.concessions:
            out.print(f"[yellow]{_n(publication.concessions)} contrat(s) de concession[/] non "
                      "écrit(s) : le fichier ne couvre encore que les marchés.")
        if publication.set_aside or publication.acts_left_out:
            out.print("Que faire : complétez ces champs dans les données de l'acheteur (ou par un "
                      "redressement), reconstruisez l'entrepôt, puis relancez la commande.")
    if not written:
        decp.render(publication, fmt)  # raises the French error: nothing could be written
    if publication.set_aside or publication.acts_left_out or publication.concessions:
        sys.exit(PUBLICATION_PARTIAL)
