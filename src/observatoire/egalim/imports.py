"""``observatoire egalim importer``: land purchase-line files, parse them, log the load.

Each file is stored unchanged in the landing area (content-addressed) and logged in the load log
with ``kind = "egalim"``, whatever its outcome; its good lines go to a staging Parquet file that
the build reads. The same content twice changes nothing, except that a file refused as a whole
may be accepted again with ``accept_partial`` (its load-log line is updated, never deleted).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from observatoire.config import Settings
from observatoire.egalim.importer import CanteenDirectory, ImportReport, import_purchases
from observatoire.egalim.mapping import ColumnMapping
from observatoire.egalim.service import KIND, read_canteens, staging_path
from observatoire.errors import ConfigError
from observatoire.indicators.profile import load_profile
from observatoire.landing import store
from observatoire.landing.catalog import Catalog, Load
from observatoire.landing.ingest import iter_files

#: Errors kept in the load log per file (the report given to the user has them all).
LOGGED_ERRORS = 500

STATUS = {"chargé": "loaded", "chargé partiellement": "partial", "rejeté": "rejected"}


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
    of ``mapping_path``) when they are not in a ma-cantine format."""
    settings.ensure_home()
    catalog = Catalog(settings.catalog_path)
    canteens = directory(settings)
    if mapping_path:
        mapping = ColumnMapping.from_toml(mapping_path)
    outcomes = []
    for path in iter_files(paths):
        sha = store.sha256_of(path)
        previous = catalog.find(sha)
        retry = previous is not None and previous.status == "rejected" and accept_partial
        if previous is not None and not retry:
            outcomes.append(ImportOutcome(previous, new=False))
            continue
        t0 = time.perf_counter()
        store.store(settings.landing_dir, path, sha)
        out = staging_path(settings, sha)
        out.parent.mkdir(parents=True, exist_ok=True)
        report = import_purchases(
            path, out, canteens=canteens, mapping=mapping, accept_partial=accept_partial
        )
        load = Load(
            sha256=sha,
            source=source,
            file_name=path.name,
            original_path=str(path.resolve()),
            size_bytes=path.stat().st_size,
            kind=KIND,
            format=report.format,
            format_label=report.format_label,
            records=report.kept,
            marches=0,
            concessions=0,
            status=STATUS.get(report.status, "rejected"),
            loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
            duration_s=round(time.perf_counter() - t0, 3),
            parser_version=None,
            errors=[asdict(e) for e in report.errors[:LOGGED_ERRORS]],
            encoding=report.encoding,
            delimiter=report.separator,
        )
        if load.status == "rejected":
            out.unlink(missing_ok=True)
        if retry and previous is not None:
            load.load_id = previous.load_id
            catalog.replace(load)
        else:
            catalog.add(load)
        outcomes.append(ImportOutcome(load, new=True, report=report))
    return outcomes
