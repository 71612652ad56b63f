"""Simulated purchase lines for the demo (no line-level catering data is published anywhere).

The lines are written in ma-cantine's 12-column import format and go through the real importer.
They are labelled as simulated everywhere they are shown (the load's source is ``simulation``).
Each canteen's propensity to buy organic or other Egalim products starts from the ratios it
really declared for 2022 (ma-cantine open data, when the profile ships them) and improves a
little every year, so that the demo's rates sit near the Région's published figures (about 20 %
bio and a third Egalim). The output is deterministic: the same canteens give the same file.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

#: Value share of each family in a lycée's food purchases, and a typical line amount (€ HT).
FAMILY_MIX: dict[str, tuple[float, float]] = {
    "VIANDES_VOLAILLES": (0.25, 420.0),
    "PRODUITS_DE_LA_MER": (0.08, 310.0),
    "FRUITS_ET_LEGUMES": (0.18, 180.0),
    "CHARCUTERIE": (0.04, 150.0),
    "PRODUITS_LAITIERS": (0.15, 210.0),
    "BOULANGERIE": (0.07, 120.0),
    "BOISSONS": (0.02, 90.0),
    "AUTRES": (0.21, 160.0),
}

#: Non-organic Egalim labels a line of each family may carry (weights).
OTHER_LABELS: dict[str, list[tuple[str, int]]] = {
    "VIANDES_VOLAILLES": [("LABEL_ROUGE", 5), ("IGP", 2), ("HVE", 1), ("FERMIER", 1)],
    "PRODUITS_DE_LA_MER": [("PECHE_DURABLE", 3), ("LABEL_ROUGE", 1)],
    "FRUITS_ET_LEGUMES": [("HVE", 4), ("CE2", 2), ("IGP", 1)],
    "CHARCUTERIE": [("LABEL_ROUGE", 3), ("IGP", 1), ("FERMIER", 1)],
    "PRODUITS_LAITIERS": [("AOCAOP", 4), ("FERMIER", 2), ("HVE", 1)],
    "BOULANGERIE": [("LABEL_ROUGE", 1), ("HVE", 2)],
    "BOISSONS": [("COMMERCE_EQUITABLE", 2), ("HVE", 1)],
    "AUTRES": [("COMMERCE_EQUITABLE", 2), ("HVE", 2), ("AOCAOP", 1)],
}

SUPPLIERS = [f"Fournisseur simulé {n:02d}" for n in range(1, 13)]
HEADER = [
    "siret", "description", "fournisseur", "date", "prix_ht", "famille_produits",
    "categories_egalim", "origine", "est_circuit_court", "est_local", "definition_local",
    "definition_local_km",
]


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def write_simulated_purchases(
    path: Path,
    canteens: list[dict[str, str]],
    declared: dict[str, tuple[float, float]],
    start: date = date(2024, 1, 1),
    end: date = date(2026, 10, 31),
    lines_per_month: int = 30,
    seed: int = 2026,
) -> int:
    """Write the lines of every canteen with a SIRET between ``start`` and ``end``.

    ``declared`` maps a SIRET to its declared (bio, Egalim excluding bio) ratios. Returns the
    number of lines written.
    """
    rng = random.Random(seed)
    families = list(FAMILY_MIX)
    weights = [FAMILY_MIX[f][0] / FAMILY_MIX[f][1] for f in families]  # value → line counts
    written = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        for canteen in canteens:
            siret = canteen.get("siret")
            if not siret:
                continue
            bio0, others0 = declared.get(siret, (0.17, 0.11))
            # A few canteens miss a month of invoices (the quality page should show it).
            missing = {(2025, 3)} if int(siret[-4:-1]) % 10 == 0 else set()
            month = date(start.year, start.month, 1)
            while month <= end:
                key = (month.year, month.month)
                if month.month == 8 or key in missing:
                    month = (month + timedelta(days=32)).replace(day=1)
                    continue
                years = month.year - 2022 + (month.month - 1) / 12
                p_bio = min(0.6, bio0 + 0.015 * years)
                p_others = min(0.6, others0 + 0.02 * years)
                count = lines_per_month // 3 if month.month == 7 else lines_per_month
                last = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
                for _ in range(count):
                    day = month + timedelta(days=rng.randrange((min(last, end) - month).days + 1))
                    family = rng.choices(families, weights=weights)[0]
                    amount = round(rng.lognormvariate(0, 0.6) * FAMILY_MIX[family][1], 2)
                    labels: list[str] = []
                    draw = rng.random()
                    if draw < p_bio:
                        labels.append("BIO")
                        if rng.random() < 0.1:
                            second = "COMMERCE_EQUITABLE" if family == "BOISSONS" else "LABEL_ROUGE"
                            labels.append(second)
                    elif draw < p_bio + p_others:
                        labels.append(_pick(rng, OTHER_LABELS[family]))
                    # Defects real files have: a label that does not exist for the family
                    # (it will not count), a credit note entered at 0 €.
                    if family == "PRODUITS_DE_LA_MER" and rng.random() < 0.01:
                        labels = ["FERMIER"]
                    if rng.random() < 0.0005:
                        amount = 0.0
                    origin = "FRANCE" if rng.random() < 0.62 else ""
                    if not origin and rng.random() < 0.5:
                        origin = "EUROPE"
                    is_local = origin == "FRANCE" and rng.random() < 0.3
                    out.writerow([
                        siret,
                        f"Article simulé ({family.lower().replace('_', ' ')})",
                        rng.choice(SUPPLIERS),
                        day.isoformat(),
                        f"{amount:.2f}",
                        family,
                        ",".join(labels),
                        origin,
                        "oui" if is_local and rng.random() < 0.5 else "",
                        "x" if is_local else "",
                        "REGION" if is_local else "",
                        "",
                    ])
                    written += 1
                month = (month + timedelta(days=32)).replace(day=1)
    return written
