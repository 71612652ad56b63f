"""``observatoire egalim importer``: land purchase-line files, parse them, log the load.

Each file is stored unchanged in the landing area (content-addressed) and logged in the load log
with ``kind = "egalim"``, whatever its outcome; its good lines go to a staging Parquet file that
the build reads. The same content twice changes nothing, except that a file refused as a whole
may be accepted again with ``accept_partial`` (its load-log line is updated, never deleted).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from observatoire.config import Settings
from observatoire.connectors.ingest import land
from observatoire.egalim.importer import CanteenDirectory, ImportReport
from observatoire.egalim.kinds import (
    KIND,
    LOGGED_ERRORS,
    STATUS,
    PurchaseOptions,
)
from observatoire.egalim.mapping import ColumnMapping
from observatoire.egalim.service import read_canteens
from observatoire.errors import ConfigError
from observatoire.indicators.profile import load_profile
from observatoire.landing.catalog import Load

__all__ = ["KIND", "LOGGED_ERRORS", "STATUS", "ImportOutcome", "directory", "import_files"]


@dataclass
class ImportOutcome:
    load: Load
    new: bool
    report: ImportReport | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "fichier": self.load.file_name, "sha256": self.load.sha256,
            "nouveau": self.new, "statut": self.load.status, "lignes": self.load.records,
        }
        if self.report is not None:
            out["rapport"] = self.report.to_dict()
        return out


def directory(settings: Settings) -> CanteenDirectory:
    """The canteens lines may refer to: the establishments file of the active profile."""
    profile = load_profile(settings.profile)
    canteens = read_canteens(profile)
    if not canteens:
        raise ConfigError(
            "Le profil actif ne liste aucun établissement : les achats ne peuvent être "
            "rattachés à aucune cantine.",
            where=f"profil « {settings.profile} »",
            hint="Ajoutez [egalim] establishments = \"etablissements.csv\" au profil, ou "
            "choisissez un profil qui en a un (--profile region-bretagne).",
        )
    return CanteenDirectory.of(
        sirets=[c["siret"] for c in canteens if c["siret"]],
        ids=[c["cantine_id"] for c in canteens if c["cantine_id"]],
    )


def import_files(
    settings: Settings,
    paths: list[Path],
    *,
    accept_partial: bool = False,
    mapping_path: Path | None = None,
    source: str = "import",
    mapping: ColumnMapping | None = None,
) -> list[ImportOutcome]:
    """Import every file under ``paths`` (folders included), read with ``mapping`` (or the one
    of ``mapping_path``) when they are not in a ma-cantine format: the one landing loop, with
    the Egalim kind named."""
    settings.ensure_home()
    canteens = directory(settings)
    if mapping_path:
        mapping = ColumnMapping.from_toml(mapping_path)
    options = PurchaseOptions(canteens, mapping, accept_partial)
    return [ImportOutcome(o.load, o.new, o.report)
            for o in land(settings, paths, kind=KIND, options=options, source=source)]
