"""The Egalim step of the build: canteens' food purchases, their rules and their results."""

from __future__ import annotations

from observatoire.egalim import service
from observatoire.pipeline import DECISIONS, BuildContext, Step


def egalim(ctx: BuildContext) -> None:
    service.build_into(ctx.con, ctx.settings, ctx.profile, ctx.loads,
                       ctx.shared[DECISIONS].mappings)


STEPS = [
    Step("egalim", "Egalim : achats alimentaires des cantines", egalim,
         reads=frozenset({"ref_departements", DECISIONS}),
         writes=frozenset({
             "egalim_articles", "egalim_canteen_quality", "egalim_canteens", "egalim_contracts",
             "egalim_declarations", "egalim_family_details", "egalim_findings",
             "egalim_line_facts", "egalim_lines", "egalim_matrix", "egalim_results",
             "egalim_rules", "indicator_canteens", "indicator_purchase_lines"})),
]
