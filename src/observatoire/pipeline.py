"""The build as a declared pipeline: named steps that say which tables they read and write.

A stage (staging, model, quality, Egalim, indicators…) or a source kind contributes
:class:`Step` objects; one runner orders them by what they read and write and times each one
into the build log. This module holds the vocabulary and the runner, so that every stage can
depend on it without depending on the others.

What a step names (``reads``, ``writes``, ``drops``) is a *resource*: a warehouse table or view
(``contracts``), a column a step fills in a table another step made (``contracts.directorate_id``),
SQL functions later steps call (``macro:cleaning``), or something handed from step to step
outside the warehouse (``shared:decisions``). The order:

- every writer of a resource runs before every step that only reads it;
- steps that write the same resource run in the order they were given (the first one makes it,
  the next ones change it);
- a step that drops a resource (a work table) runs after every step that reads or writes it;
- otherwise the order given is kept (a stable topological order).

A resource read that no step writes and that is not an input of the run, or steps that need
each other, are a developer's mistake: :class:`PipelineError`, before any step runs.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from observatoire.warehouse import count_rows

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
    #: Every load of the catalog, superseded ones included (the ``loads`` table lists them all).
    all_loads: list[Load] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """One step of the build.

    ``name`` is stable (it keys the timings in the build log: ``modele.marches``); ``label`` is
    the French text shown while building. ``reads`` and ``writes`` name warehouse tables (or
    views, or ``shared`` keys prefixed ``shared:``); the runner orders steps so that a table is
    written before it is read. ``drops`` names what the step removes (work tables).
    ``once_per_build``: the step records the build itself (a history snapshot keyed by the
    build), so a recomputation of part of the warehouse (:func:`following`) does not run it
    again.
    """

    name: str
    label: str
    run: Callable[[BuildContext], None]
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    drops: frozenset[str] = frozenset()
    once_per_build: bool = False


class PipelineError(Exception):
    """Steps that cannot be ordered or run as declared: a developer's mistake, never a user's."""


SHARED = "shared:"

#: What people decided (corrections, mappings, changed targets), read once from the application
#: database by the stewardship's first step (:class:`observatoire.stewardship.store.Decisions`)
#: and used by later stages: named here so that they need not know the stewardship package.
DECISIONS = "shared:decisions"
#: The cleaning macros (``observatoire.model.clean``: ``enum_key``, ``contract_uid``…) that the
#: SQL of the stewardship, the model and the quality rules call.
MACROS = "macro:cleaning"


@dataclass(frozen=True)
class Timing:
    """What the build log keeps of a step that ran."""

    position: int
    name: str
    label: str
    #: When the step started: ISO timestamp, UTC, milliseconds.
    started_at: str
    seconds: float
    #: CPU seconds of the process during the step (every thread: DuckDB's as well).
    cpu_seconds: float
    #: Rows of the warehouse tables the step wrote or changed, after it (None: it writes no
    #: table).
    rows: int | None


def order(steps: Sequence[Step], inputs: Iterable[str] = ()) -> list[Step]:
    """The steps in an order that honours what they read, write and drop (see the module)."""
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise PipelineError(f"steps declared more than once: {', '.join(twice)}")
    given = set(inputs)
    written = {r for s in steps for r in s.writes}
    for s in steps:
        missing = sorted(s.reads - written - given)
        if missing:
            raise PipelineError(
                f"step {s.name!r} reads {', '.join(missing)}, which no step writes and which is "
                "not an input of this run")
    after: list[set[int]] = [set() for _ in steps]  # after[j]: the steps j must follow

    def before(i: int, j: int) -> None:
        if i != j:
            after[j].add(i)

    resources = {r for s in steps for r in s.reads | s.writes | s.drops}
    for r in resources:
        writers = [i for i, s in enumerate(steps) if r in s.writes]
        readers = [i for i, s in enumerate(steps) if r in s.reads and r not in s.writes]
        droppers = [i for i, s in enumerate(steps) if r in s.drops]
        for first, then in itertools.pairwise(writers):
            before(first, then)
        for w in writers:
            for reader in readers:
                before(w, reader)
        for d in droppers:
            for other in writers + readers:
                before(other, d)
    waiting = [len(a) for a in after]
    followers: list[list[int]] = [[] for _ in steps]
    for j, needs in enumerate(after):
        for i in needs:
            followers[i].append(j)
    ready = [i for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    out: list[int] = []
    while ready:
        i = heapq.heappop(ready)  # the earliest given among those ready: a stable order
        out.append(i)
        for j in followers[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
    if len(out) < len(steps):
        # walk back from a step left waiting through the steps it waits for: a cycle
        path = [next(i for i in range(len(steps)) if waiting[i])]
        while path.count(path[-1]) < 2:
            path.append(min(i for i in after[path[-1]] if waiting[i]))
        cycle = path[path.index(path[-1]):][::-1]
        raise PipelineError("steps that need each other (a cycle): "
                            + " -> ".join(steps[i].name for i in cycle))
    return [steps[i] for i in out]


def following(steps: Sequence[Step], start: str) -> list[Step]:
    """Step ``start`` and every step that reads, directly or not, what it writes, in order:
    what a recomputation from that step runs again (``once_per_build`` steps left out)."""
    ordered = order(steps, inputs={r for s in steps for r in s.reads})
    if start not in {s.name for s in ordered}:
        raise PipelineError(f"no step named {start!r}")
    chosen: list[Step] = []
    changed: set[str] = set()
    for s in ordered:
        if s.name == start or (s.reads | s.writes) & changed:
            if s.once_per_build:
                continue
            chosen.append(s)
            changed |= s.writes
    return chosen


def tables(resources: Iterable[str]) -> set[str]:
    """The warehouse tables (or views) among resources: not columns, macros or shared values."""
    return {r for r in resources if ":" not in r and "." not in r}


def _rows(con: duckdb.DuckDBPyConnection, step: Step) -> int | None:
    """Rows of the tables (not views, columns or shared values) the step wrote."""
    written = sorted({n for (n,) in con.execute(
        "SELECT table_name FROM duckdb_tables()").fetchall()} & tables(step.writes))
    if not written:
        return None
    return sum(count_rows(con, written))


def run(ctx: BuildContext, steps: Sequence[Step], *, inputs: Iterable[str] = (),
        on_step: Callable[[str], None] | None = None,
        on_timing: Callable[[Timing], None] | None = None) -> list[Timing]:
    """Run the steps in their order, timing each one (``on_timing`` is told as each ends)."""
    timings: list[Timing] = []
    for position, step in enumerate(order(steps, inputs), start=1):
        if on_step:
            on_step(step.label)
        started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        t0, cpu0 = time.perf_counter(), time.process_time()
        step.run(ctx)
        seconds = round(time.perf_counter() - t0, 3)
        cpu = round(time.process_time() - cpu0, 3)
        timing = Timing(position, step.name, step.label, started_at, seconds, cpu,
                        _rows(ctx.con, step))
        timings.append(timing)
        if on_timing:
            on_timing(timing)
    return timings
