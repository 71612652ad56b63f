"""The stewardship's steps of the build: what people decided, applied on the raw values.

They use :mod:`observatoire.stewardship.apply` (plain SQL) and
:mod:`observatoire.stewardship.store` (the application database read once), never Django.
"""

from __future__ import annotations

from observatoire.model.steps import REFERENCES
from observatoire.pipeline import DECISIONS, MACROS, BuildContext, Step
from observatoire.stewardship import apply
from observatoire.stewardship.store import decisions

#: ``ctx.shared`` key: the corrections this build found stale, to mark once its warehouse is
#: in service.
STALE = "shared:stale_corrections"

_WORK = frozenset({"corrections_work", "correction_matches_work", "corrected_values_work",
                   "correction_members_work", "published_identity_work"})


def corrected(ctx: BuildContext) -> None:
    # People's corrections and mappings from the application database, applied on the raw
    # values: `staged` is `staged_source` corrected (once `matched` has found their records).
    # read here, unless the build read them first (an incremental build reads them to know
    # whether they changed since the warehouse in service, and hands on those it applies)
    if DECISIONS not in ctx.shared:
        ctx.shared[DECISIONS] = decisions(ctx.settings)
    apply.load(ctx.con, ctx.shared[DECISIONS])


def matched(ctx: BuildContext) -> None:
    # which records the corrections are on, by the identity of their published values (which
    # needs the reference tables), so that `staged` carries their corrected values
    apply.match(ctx.con)


def published_identity(ctx: BuildContext) -> None:
    # the records of corrected contracts keep the identity of their published values: a
    # correction never moves a lot to another uid
    for sql in apply.PUBLISHED_IDENTITY:
        ctx.con.execute(sql)


def excluded(ctx: BuildContext) -> None:
    apply.exclude(ctx.con)


def published(ctx: BuildContext) -> None:
    ctx.shared[STALE] = apply.publish(ctx.con)


STEPS = [
    Step("gestion.corrections", "Corrections des gestionnaires (redressements)", corrected,
         reads=frozenset({"staged_source", MACROS}),
         writes=frozenset({"staged", "purchase_domain_overrides", DECISIONS} | _WORK)),
    Step("gestion.rattachement", "Corrections rattachées à leurs enregistrements", matched,
         reads=REFERENCES | {"staged_source", "ref_enum_values", "quality_rules", MACROS}
         | _WORK,
         writes=frozenset({"staged"}) | _WORK),
    Step("gestion.identite", "Identité publiée des marchés corrigés", published_identity,
         reads=frozenset({"record_identity_work", "set_aside_work", "correction_members_work",
                          "published_identity_work"}),
         writes=frozenset({"record_identity_work"})),
    Step("gestion.exclusions", "Marchés exclus par les gestionnaires", excluded,
         reads=frozenset({"records", "corrections_work"}),
         writes=frozenset({"set_aside_work"})),
    Step("gestion.publication", "Valeurs corrigées et valeurs publiées", published,
         reads=frozenset({"records", "findings", "staged_source", "source_records"} | _WORK),
         writes=frozenset({"corrections_applied", "source_records.published_values",
                           "contracts.corrected_fields", STALE}),
         drops=_WORK),
]
