"""The build as a declared pipeline: ordering by reads and writes, developer errors, the build
log's step timings, steps contributed by a source kind, and no import cycle between stages."""

from __future__ import annotations

import ast
import dataclasses
import itertools
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from observatoire import build as build_module
from observatoire import pipeline
from observatoire.build import CORE_ORDER, build, core_steps
from observatoire.config import Settings
from observatoire.connectors.ingest import ingest
from observatoire.indicators.service import TABLES as INDICATOR_TABLES
from observatoire.landing.catalog import Catalog
from observatoire.pipeline import BuildContext, PipelineError, Step, following, order

from .conftest import DEMO
from .test_cli import run as run_cli

SRC = Path(__file__).resolve().parents[1] / "src" / "observatoire"
SMALL = [DEMO / "decp" / "v2", DEMO / "ref" / "cpv_2008_fr.csv"]


def _nothing(ctx: BuildContext) -> None:
    pass


def step(name: str, reads: Iterable[str] = (), writes: Iterable[str] = (),
         drops: Iterable[str] = (), run: Callable[[BuildContext], None] = _nothing) -> Step:
    return Step(name, name, run, frozenset(reads), frozenset(writes), frozenset(drops))


def names(steps: Iterable[Step]) -> list[str]:
    return [s.name for s in steps]


# --- Ordering ------------------------------------------------------------------------------


def test_a_step_runs_after_the_step_writing_what_it_reads_whatever_the_order_given() -> None:
    steps = [step("lit", reads=["t"]), step("autre"), step("ecrit", writes=["t"])]
    assert names(order(steps)) == ["autre", "ecrit", "lit"]


def test_independent_steps_keep_the_order_given() -> None:
    steps = [step("c"), step("a"), step("b")]
    assert names(order(steps)) == ["c", "a", "b"]


def test_the_writers_of_one_table_run_in_the_order_given_before_its_readers() -> None:
    steps = [step("lit", reads=["t"]), step("cree", writes=["t"]),
             step("change", reads=["t"], writes=["t"])]
    assert names(order(steps)) == ["cree", "change", "lit"]


def test_a_step_dropping_a_table_runs_after_every_step_using_it() -> None:
    steps = [step("cree", writes=["w"]), step("supprime", drops=["w"]),
             step("lit", reads=["w"])]
    assert names(order(steps)) == ["cree", "lit", "supprime"]


def test_steps_that_need_each_other_are_a_developer_error_naming_them() -> None:
    steps = [step("libre"), step("a", reads=["y"], writes=["x"]),
             step("b", reads=["x"], writes=["y"]), step("apres", reads=["x"])]
    with pytest.raises(PipelineError, match=r"cycle\): a -> b -> a$"):
        order(steps)


def test_a_table_read_that_no_step_writes_is_a_developer_error_unless_an_input() -> None:
    steps = [step("a", reads=["absente", "t"]), step("b", writes=["t"])]
    with pytest.raises(PipelineError, match="'a' reads absente, which no step writes"):
        order(steps)
    assert names(order(steps, inputs=["absente"])) == ["b", "a"]


def test_a_step_declared_twice_is_a_developer_error() -> None:
    with pytest.raises(PipelineError, match="more than once: a"):
        order([step("a"), step("a")])


def test_the_core_steps_declarations_agree_with_their_historical_order() -> None:
    assert names(order(core_steps())) == list(CORE_ORDER)


def test_a_contributed_step_adding_staged_records_runs_before_the_corrections_read_them() -> None:
    # a source kind appending its records to the staged ones (its step is given last)
    extra = step("compta.lecture", reads=["staged_source"], writes=["staged_source"])
    ordered = names(order([*core_steps(), extra]))
    assert ordered.index("staging.decp") < ordered.index("compta.lecture") < \
        ordered.index("gestion.corrections")


def test_what_follows_the_directorates_is_the_indicator_step_not_the_build_snapshot() -> None:
    # the indicators read the directorates (their results are broken down by directorate, and
    # so are the payment delays B03/B04 the payments step computes); the quality snapshot (which
    # reads the directorates too) records the build itself: not run again. Nothing reads what
    # the indicator step writes but the history it hands over.
    assert names(following(core_steps(), "modele.directions")) == [
        "modele.directions", "paiements.indicateurs", "indicateurs"]
    assert names(following(core_steps(), "indicateurs")) == ["indicateurs"]


# --- The build log -------------------------------------------------------------------------


def _buyers_copy(ctx: BuildContext) -> None:
    ctx.con.execute("CREATE TABLE essai_acheteurs AS SELECT buyer_siret, name FROM buyers")


def test_every_step_and_a_contributed_one_are_timed_into_the_build_log(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "h")
    ingest(settings, SMALL)
    contributed = Step("essai.acheteurs", "Essai : copie des acheteurs", _buyers_copy,
                       reads=frozenset({"buyers"}), writes=frozenset({"essai_acheteurs"}))
    labels: list[str] = []
    summary = build(settings, on_step=labels.append, contributed=[contributed])
    logged = Catalog(settings.catalog_path).build_steps(summary.build_id)
    # given last, needed by no core step: it runs last, after the writers of what it reads
    assert [s["name"] for s in logged] == [*CORE_ORDER, "essai.acheteurs"]
    by_name = {s["name"]: s for s in logged}
    assert labels == [s["label"] for s in logged]
    assert all(s["seconds"] >= 0 and s["cpu_seconds"] >= 0 for s in logged)
    starts = [datetime.fromisoformat(s["started_at"]) for s in logged]
    assert starts == sorted(starts)
    assert Catalog(settings.catalog_path).builds(1)[0]["started_at"][:19] <= \
        logged[0]["started_at"][:19]
    assert sum(s["seconds"] for s in logged) <= summary.seconds
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        def count(table: str) -> int:
            return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])

        assert by_name["essai.acheteurs"]["rows"] == count("buyers") > 0
        assert by_name["indicateurs"]["rows"] == sum(count(t) for t in INDICATOR_TABLES)
        assert by_name["depot.chargements"]["rows"] == len(Catalog(settings.catalog_path).loads())
    finally:
        con.close()
    assert by_name["modele.macros"]["rows"] is None  # writes no table
    # `observatoire status --json` lists the steps of each build
    status = json.loads(run_cli(settings.home, "status", "--json").stdout)
    assert status["builds"][0]["steps"] == logged


def test_each_core_step_makes_what_it_declares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tables and views each step leaves behind are among the ones it declares it writes,
    the tables it declares are there after it, and what disappears is what it declares it
    drops: the order the runner computes from the declarations rests on them."""
    settings = Settings(home=tmp_path / "h")
    ingest(settings, [*SMALL, DEMO / "ref"])
    seen: dict[str, tuple[set[str], set[str], set[str]]] = {}

    def objects(con: duckdb.DuckDBPyConnection) -> set[str]:
        return {n for (n,) in con.execute(
            "SELECT table_name FROM duckdb_tables() UNION ALL "
            "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}

    def watched(s: Step) -> Step:
        def run(ctx: BuildContext) -> None:
            before = objects(ctx.con)
            s.run(ctx)
            after = objects(ctx.con)
            seen[s.name] = (after - before, before - after, after)
        return dataclasses.replace(s, run=run)

    core = build_module.core_steps
    monkeypatch.setattr(build_module, "core_steps", lambda: [watched(s) for s in core()])
    build(settings)
    assert list(seen) == list(CORE_ORDER)
    for s in core():
        made, gone, present = seen[s.name]
        tables = pipeline.tables(s.writes)
        assert made <= tables, (s.name, made - tables)
        assert tables <= present, (s.name, tables - present)
        assert gone <= s.drops, (s.name, gone - s.drops)


# --- No import cycle between the stage packages --------------------------------------------


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def stage_imports(root: Path) -> dict[str, dict[str, str]]:
    """{package: {package it imports: where (file:line)}} over the subpackages of ``root``,
    counting imports inside functions too, not those made for type checking only."""
    packages = {p.name for p in root.iterdir() if (p / "__init__.py").exists()}
    graph: dict[str, dict[str, str]] = {p: {} for p in packages}
    for package in sorted(packages):
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            parents = {child: node for node in ast.walk(tree)
                       for child in ast.iter_child_nodes(node)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules = ([f"{node.module}.{a.name}" for a in node.names]
                               if node.module == "observatoire" else [node.module])
                else:
                    continue
                if _type_checking_only(node, parents):
                    continue
                for module in modules:
                    parts = module.split(".")
                    if parts[0] == "observatoire" and len(parts) > 1 and \
                            parts[1] in packages and parts[1] != package:
                        graph[package].setdefault(
                            parts[1], f"{path.relative_to(root)}:{node.lineno}")
    return graph


def find_cycle(graph: dict[str, dict[str, str]]) -> list[str] | None:
    """A cycle of the graph as the list of its nodes (the first repeated at the end)."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle_and_no_false_one() -> None:
    assert find_cycle({"a": {"b": ""}, "b": {"c": ""}, "c": {"a": ""}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": "", "c": ""}, "b": {"c": ""}, "c": {}}) is None


def test_no_import_cycle_between_the_stage_packages() -> None:
    graph = stage_imports(SRC)
    assert {"staging", "landing", "model", "quality", "indicators", "egalim", "stewardship",
            "web"} <= set(graph)
    cycle = find_cycle(graph)
    where: list[Any] = [] if cycle is None else [
        f"{a} -> {b} ({graph[a][b]})" for a, b in itertools.pairwise(cycle)]
    assert cycle is None, "import cycle between stage packages: " + "; ".join(where)
