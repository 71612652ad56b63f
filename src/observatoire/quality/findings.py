"""Turns the rule catalogue into set-based SQL that writes findings."""

from __future__ import annotations

from observatoire.quality.rules import RULES, Rule

#: For each kind of rule, the FROM clause and the expressions of the finding's keys.
SUBJECTS = {
    "record": (
        "records r LEFT JOIN record_flags_work f ON f.record_key = r.record_key",
        "r.record_key",
        "r.uid",
    ),
    "holder": (
        "record_holders h JOIN records r ON r.record_key = h.record_key",
        "r.record_key",
        "r.uid",
    ),
    "version": ("contract_versions v", "v.record_key", "v.uid"),
    "subcontract": ("subcontracts st", "st.record_key", "st.uid"),
    "duplicate": ("duplicates_work d", "d.record_key", "d.uid"),
}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _select(rule: Rule) -> str:
    source, record_key, uid = SUBJECTS[rule.over]
    return (
        f"SELECT {_quote(rule.id)} AS rule_id, {_quote(rule.severity)} AS severity, "
        f"{_quote(rule.field)} AS field, {record_key} AS record_key, {uid} AS uid, "
        f"CAST({rule.raw} AS VARCHAR) AS raw_value, CAST({rule.value} AS VARCHAR) AS value "
        f"FROM {source} WHERE COALESCE(({rule.when}), false)"
    )


def findings_sql(table: str, over: set[str]) -> str:
    """CREATE TABLE ``table`` with the findings of every rule checked on the given subjects."""
    selects = [_select(rule) for rule in RULES if rule.over in over]
    return f"CREATE TABLE {table} AS\n" + "\nUNION ALL\n".join(selects)


def rules_rows() -> list[tuple[str, str, str, str, str, str, str]]:
    """Rows of the warehouse's ``quality_rules`` table (one per rule and field)."""
    return [(r.id, r.severity, r.field, r.title, r.explanation, r.hint, r.source) for r in RULES]


SEVERITY_ORDER = {"bloquant": 0, "avertissement": 1, "correction": 2, "information": 3}


def rules_markdown() -> str:
    """The rule catalogue as a Markdown page (``docs/quality-rules.md``), in French for users."""
    lines = [
        "# Règles de qualité des données",
        "",
        "Page générée par `observatoire rules --output docs/quality-rules.md` depuis",
        "`src/observatoire/quality/rules.py`. Gravités : **bloquant** (l'enregistrement est écarté,",
        "avec ses raisons), **avertissement** (gardé et signalé ; une valeur faussée est traitée",
        "comme inconnue), **correction** (valeur réparée automatiquement, l'originale est gardée",
        "à côté), **information**.",
        "",
        "| règle | gravité | champ | constat | explication | que faire | origine |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(RULES, key=lambda r: (SEVERITY_ORDER[r.severity], r.id, r.field)):
        cells = [
            f"`{r.id}`",
            r.severity,
            f"`{r.field}`",
            r.title,
            r.explanation,
            r.hint,
            r.source or "observatoire",
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
