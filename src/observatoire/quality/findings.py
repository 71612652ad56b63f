"""Turns the rule catalogue into set-based SQL that writes findings."""

from __future__ import annotations

from collections.abc import Mapping

from observatoire.quality.rules import RULES, Rule, Subject
from observatoire.sqlquote import literal

#: For each kind of rule, the FROM clause and the expressions of the finding's keys.
SUBJECTS = {
    "record": (
        "records r LEFT JOIN record_flags_work f ON f.record_key = r.record_key "
        "LEFT JOIN siret_checks bc ON bc.siret = r.buyer_siret",
        "r.record_key",
        "r.uid",
    ),
    "holder": (
        "record_holders h JOIN records r ON r.record_key = h.record_key "
        "LEFT JOIN siret_checks hc ON hc.siret = h.holder_id",
        "r.record_key",
        "r.uid",
    ),
    "version": ("contract_versions v", "v.record_key", "v.uid"),
    "subcontract": (
        "subcontracts st LEFT JOIN siret_checks sc ON sc.siret = st.subcontractor_id",
        "st.record_key",
        "st.uid",
    ),
    "duplicate": ("duplicates_work d", "d.record_key", "d.uid"),
    "identity": ("record_identity_work i", "i.record_key", "i.uid"),
}


def _quote(text: str) -> str:
    return literal(text)


def _finding(rule: Rule, number: int) -> str:
    """The rule's number and values as a struct when it holds for the row, else NULL."""
    return (
        f"CASE WHEN COALESCE(({rule.when}), false) THEN struct_pack(n := {number}, "
        f"raw_value := CAST({rule.raw} AS VARCHAR), value := CAST({rule.value} AS VARCHAR)) END"
    )


def _constants(values: list[str]) -> str:
    return "[" + ", ".join(_quote(v) for v in values) + "]"


#: The records set aside by the rules: those with a blocking finding (over ``findings_records_work``).
SET_ASIDE = """CREATE TEMP TABLE set_aside_work AS
    SELECT record_key, list(DISTINCT rule_id ORDER BY rule_id) AS reasons
    FROM findings_records_work WHERE severity = 'bloquant' GROUP BY record_key"""


def findings_sql(table: str, over: set[str], rules: list[Rule] | None = None,
                 subjects: Mapping[str, Subject | tuple[str, str, str]] | None = None) -> str:
    """CREATE TABLE ``table`` with the findings of every rule checked on the given subjects.

    One engine, several rule sets: the DECP rules (``RULES`` over ``SUBJECTS``) by default;
    another set (the payment rules of ``quality.payment_rules``, the Egalim rules of
    ``egalim.rules``) gives its own rules and subjects (FROM clause, record key and
    contract uid of each subject, and the scope columns of its findings if any).

    All the rules of one subject are evaluated in a single pass over its table: each row yields
    the list of the rules it breaks, which is then unnested (one scan, not one per rule). The
    list items carry only the rule's number and values; its id, severity and field are looked up
    by number after the unnest (building a list of ~70 five-field structs a row cost more than
    the rules themselves).
    """
    catalogue = RULES if rules is None else rules
    sources = SUBJECTS if subjects is None else subjects
    selects = []
    for subject in sorted(over):
        subject_rules = [rule for rule in catalogue if rule.over == subject]
        if not subject_rules:
            continue
        given = sources[subject]
        subj = given if isinstance(given, Subject) else Subject(*given)
        source, record_key, uid = subj.source, subj.record_key, subj.uid
        scope = "".join(f"{expr} AS {name}, " for name, expr in subj.scope)
        scope_names = "".join(f"{name}, " for name, _ in subj.scope)
        checks = ",\n        ".join(_finding(rule, n)
                                    for n, rule in enumerate(subject_rules, start=1))
        ids = _constants([rule.id for rule in subject_rules])
        severities = _constants([rule.severity for rule in subject_rules])
        fields = _constants([rule.field for rule in subject_rules])
        # A record is one row of its subject and a rule (id, field) fires at most once on it:
        # its findings are distinct. Holders, versions and acts are several rows of a record,
        # which may say the same thing twice (a holder listed twice): those are deduplicated
        # here, on a few thousand rows, rather than all findings at the end.
        distinct = "" if subject == "record" or subj.one_row_a_record else "DISTINCT "
        selects.append(
            f"SELECT {distinct}record_key, uid, {scope_names}{ids}[finding.n] AS rule_id, "
            f"{severities}[finding.n] AS severity, {fields}[finding.n] AS field, "
            f"finding.raw_value, finding.value FROM (\n"
            f"    SELECT {record_key} AS record_key, {uid} AS uid, {scope}unnest(list_filter([\n"
            f"        {checks}\n    ], lambda x: x IS NOT NULL)) AS finding\n"
            f"    FROM {source})"
        )
    # Work tables are temporary: kept in memory (spilled if need be), not compressed into the
    # warehouse file only to be dropped at the end of the build.
    temp = "TEMP " if table.endswith("_work") else ""
    return f"CREATE {temp}TABLE {table} AS\n" + "\nUNION ALL\n".join(selects)
