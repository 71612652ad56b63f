"""The quality's steps of the build: findings on the records, on the model, and the history."""

from __future__ import annotations

from observatoire.pipeline import MACROS, BuildContext, Step
from observatoire.quality import history
from observatoire.quality.findings import SET_ASIDE, findings_sql

#: ``ctx.shared`` key: this build's quality snapshot, committed once its warehouse is in service.
CHANGES = "shared:quality_changes"


def record_findings(ctx: BuildContext) -> None:
    ctx.con.execute(findings_sql("findings_records_work", {"record", "holder"}))
    ctx.con.execute(SET_ASIDE)


def model_findings(ctx: BuildContext) -> None:
    ctx.con.execute(findings_sql("findings_model_work",
                                 {"identity", "version", "subcontract", "duplicate"}))
    # A finding's id is a digest of what it says (record, rule, field, values): the same
    # finding keeps its id from one build to the next, without numbering the findings. The
    # provenance comes from records (source_records copies it from there: one join, not two).
    ctx.con.execute(f"""CREATE TABLE findings AS
        SELECT md5(concat_ws('|', f.record_key, f.rule_id, f.field,
                             COALESCE(f.raw_value, '∅'), COALESCE(f.value, '∅'))) AS finding_id,
            f.rule_id, f.severity, f.field, f.record_key, r.file_hash, r.position, r.line,
            r.load_id, r.file_name, f.uid, r.buyer_siret, f.raw_value, f.value,
            CAST(NULL AS VARCHAR) AS directorate_id,
            {history.FOLLOW_KEY} AS follow_key
        FROM (SELECT * FROM findings_records_work
              UNION ALL SELECT * FROM findings_model_work) f
        JOIN records r ON r.record_key = f.record_key
        -- stored by contract: the contract page reads its findings by uid
        ORDER BY f.uid""")


def snapshot(ctx: BuildContext) -> None:
    # compared with the warehouse still in service; committed once this one replaces it
    ctx.shared[CHANGES] = history.stage(
        ctx.con, ctx.settings.catalog_path, ctx.settings.warehouse_path, ctx.build_id,
        ctx.started_at.replace("+00:00", ""), ctx.profile.id)


STEPS = [
    Step("qualite.enregistrements", "Règles de qualité", record_findings,
         reads=frozenset({"records", "record_holders", "record_flags_work", "siret_checks",
                          MACROS}),
         writes=frozenset({"findings_records_work", "set_aside_work"})),
    Step("qualite.modele", "Constats sur le modèle", model_findings,
         reads=frozenset({"records", "findings_records_work", "findings_records_work.uid",
                          "contract_versions", "duplicates_work", "record_identity_work",
                          "siret_checks", "subcontracts", MACROS}),
         writes=frozenset({"findings", "findings_model_work"})),
    Step("qualite.historique", "Historique de la qualité des données", snapshot,
         reads=frozenset({"contracts", "findings", "corrections_applied",
                          "contracts.directorate_id", "findings.directorate_id"}),
         writes=frozenset({"quality_builds", "quality_history", CHANGES}),
         once_per_build=True),
]
