"""The build as a declared pipeline: named steps that say which tables they read and write.

A stage (staging, model, quality, Egalim, indicators…) or a source kind contributes
:class:`Step` objects; one runner orders them by what they read and write and times each one
into the build log. This module holds only the vocabulary, so that every stage can depend on it
without depending on the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from observatoire.config import Settings
    from observatoire.indicators.profile import Profile
    from observatoire.landing.catalog import Load


@dataclass
class BuildContext:
    """What every step may use: the warehouse being written and what the build was given."""

    con: duckdb.DuckDBPyConnection
    settings: Settings
    profile: Profile
    #: The loads in force (superseded ones left out).
    loads: list[Load]
    build_id: int
    #: ISO timestamp (UTC, no offset) of the build's start.
    started_at: str
    #: What a step hands to later ones outside the warehouse (decisions read once, history rows
    #: to commit once the warehouse is in service…), by name.
    shared: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One step of the build.

    ``name`` is stable (it keys the timings in the build log: ``modele.marches``); ``label`` is
    the French text shown while building. ``reads`` and ``writes`` name warehouse tables (or
    views, or ``shared`` keys prefixed ``shared:``); the runner orders steps so that a table is
    written before it is read.
    """

    name: str
    label: str
    run: Callable[[BuildContext], None]
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
