"""The indicator step of the build (and of ``observatoire indicators``, which runs it again)."""

from __future__ import annotations

from observatoire.indicators.increment import KEPT
from observatoire.indicators.service import TABLES, compute_into
from observatoire.pipeline import DECISIONS, BuildContext, Step

#: ``ctx.shared`` key: the indicator history rows to commit once the warehouse is in service.
HISTORY = "shared:indicator_history"


def indicators(ctx: BuildContext) -> None:
    ctx.shared[HISTORY] = compute_into(
        ctx.con, ctx.settings, ctx.profile, ctx.build_id, ctx.started_at.replace("+00:00", ""),
        ctx.shared[DECISIONS].target_changes, kept=bool(ctx.shared.pop(KEPT, False)))


STEP = Step(
    "indicateurs", "Indicateurs du SPASER", indicators,
    reads=frozenset({
        "contracts", "contract_holders", "suppliers", "buyers", "subcontracts", "source_records",
        "source_record_holders", "findings", "purchase_domain_overrides", "ref_cpv",
        "ref_departements", "ref_regions", "ref_sirene_categories", "indicator_canteens",
        "indicator_purchase_lines", "egalim_canteens", "egalim_lines",
        "payment_indicator_results", DECISIONS,
        # the barometer's directorate perimeter: the directorate step runs first
        "profile_directorates", "contracts.directorate_id", "findings.directorate_id"}),
    writes=frozenset({*TABLES, HISTORY}),
)
STEPS = [STEP]
