"""The registered source kinds, in the order their detectors are tried.

Adding a kind: write its module (a :class:`~observatoire.connector.Connector` named
``CONNECTOR``) and add it to :data:`KINDS`. A kind with its own detector goes before ``decp``,
whose detector refuses, with its French message, any file it does not know.
"""

from __future__ import annotations

from pathlib import Path

from observatoire.connector import Connector, Documented, StagingTable
from observatoire.connectors import (
    accounting,
    decp,
    egalim_purchases,
    reference,
    supplier_matrices,
)
from observatoire.errors import InputFileError
from observatoire.pipeline import Step
from observatoire.staging.detect import Detected

KINDS: tuple[Connector, ...] = (
    egalim_purchases.CONNECTOR,
    supplier_matrices.CONNECTOR,
    accounting.CONNECTOR,
    decp.CONNECTOR,
    reference.CONNECTOR,
)


def connector(kind: str) -> Connector:
    for candidate in KINDS:
        if candidate.kind == kind:
            return candidate
    raise KeyError(f"no connector for the kind {kind!r}")


def staging_table(name: str) -> StagingTable:
    """A staging table of some registered kind, by name."""
    for kind in KINDS:
        for table in kind.staging:
            if table.name == name:
                return table
    raise KeyError(f"no staging table {name!r}")


def detect(path: Path) -> tuple[Connector, Detected]:
    """The kind of the file at ``path`` and what its detector found, or an
    :class:`InputFileError` saying why no kind takes it."""
    tried = []
    for candidate in KINDS:
        if candidate.detect is None or candidate.detect in tried:
            continue  # a detector shared by several kinds answers once
        tried.append(candidate.detect)
        found = candidate.detect(path)
        if found is not None:
            return connector(found.kind), found
    raise InputFileError(
        "Format non reconnu : aucun type de source ne reconnaît ce fichier.",
        where=str(path),
        hint="Fournissez un fichier DECP (JSON, XML), un CSV DECP consolidé, un référentiel, "
        "ou un flux comptable (PES V2, extraction Chorus, flux Chorus Pro).",
    )


def indicator_sources() -> frozenset[str]:
    """The indicator sources some registered kind makes available: an indicator whose source
    no kind brings is declared and shown as "données non disponibles"."""
    return frozenset().union(*(k.indicator_sources for k in KINDS))


def steps() -> list[Step]:
    """The build steps every kind contributes, in registration order (the runner orders them
    by the tables they read and write)."""
    return [step for kind in KINDS for step in kind.steps()]


def documented_tables() -> Documented:
    """Every table some kind documents, with the kind that brings it last winning."""
    out: dict[str, tuple[str, dict[str, str]]] = {}
    for kind in KINDS:
        out.update({name: (doc[0], dict(doc[1])) for name, doc in kind.tables().items()})
    return out
