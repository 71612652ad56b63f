"""Every rule set of the one quality engine, as one catalogue: the DECP rules, the payment
rules and the Egalim rules (the ``quality_rules`` table, ``observatoire rules``,
``docs/quality-rules.md``).

The engine (:mod:`observatoire.quality.findings`) is generic and each rule set lives with its
domain (the Egalim rules with Egalim, which uses the engine): the catalogue that lists them all
is assembled here, above the stage packages, as the build is.
"""

from __future__ import annotations

from observatoire.egalim.rules import EGALIM_RULES
from observatoire.quality.payment_rules import PAYMENT_RULES
from observatoire.quality.rules import RULES

#: Every rule of the engine, in catalogue order.
ALL_RULES = [*RULES, *PAYMENT_RULES, *EGALIM_RULES]


def rules_rows() -> list[tuple[str, str, str, str, str, str, str]]:
    """Rows of the warehouse's ``quality_rules`` table (one per rule and field)."""
    return [(r.id, r.severity, r.field, r.title, r.explanation, r.hint, r.source)
            for r in ALL_RULES]


SEVERITY_ORDER = {"bloquant": 0, "avertissement": 1, "correction": 2, "information": 3}


#: The rule sets of the engine, as the catalogue page shows them.
RULE_SETS = [
    ("Marchés publics (données essentielles, DECP)", "src/observatoire/quality/rules.py",
     RULES),
    ("Paiements (PES V2, Chorus, exports)", "src/observatoire/quality/payment_rules.py",
     PAYMENT_RULES),
    ("Achats alimentaires des cantines (Egalim)", "src/observatoire/egalim/rules.py",
     EGALIM_RULES),
]


def rules_markdown() -> str:
    """The rule catalogue as a Markdown page (``docs/quality-rules.md``), in French for users:
    one table per rule set, every rule with the one severity vocabulary."""
    lines = [
        "# Règles de qualité des données",
        "",
        "Page générée par `observatoire rules --output docs/quality-rules.md` depuis les jeux",
        "de règles du moteur de qualité (un moteur, plusieurs jeux de règles). Gravités :",
        "**bloquant** (l'enregistrement ou la ligne est écarté, avec ses raisons),",
        "**avertissement** (gardé et signalé ; une valeur faussée est traitée comme inconnue),",
        "**correction** (valeur réparée automatiquement, l'originale est gardée à côté),",
        "**information**.",
    ]
    for title, source, rules in RULE_SETS:
        lines += [
            "",
            f"## {title}",
            "",
            f"Règles déclarées dans `{source}`.",
            "",
            "| règle | gravité | champ | constat | explication | que faire | origine |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in sorted(rules, key=lambda r: (SEVERITY_ORDER[r.severity], r.id, r.field)):
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
