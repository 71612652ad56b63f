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

#: With a nomenclature: the suppliers that send a matrix (one per family group), the raw label
#: strings they write for an article (weights; "" = no label), and the fictitious SIRET of the
#: supplier of the example contract (``profiles/demonstration/egalim/marches.csv``).
MATRIX_SUPPLIERS: dict[str, tuple[str, ...]] = {
    "Fournisseur simulé 01": ("VIANDES_VOLAILLES", "CHARCUTERIE"),
    "Fournisseur simulé 02": ("PRODUITS_DE_LA_MER",),
    "Fournisseur simulé 03": ("FRUITS_ET_LEGUMES", "PRODUITS_LAITIERS"),
}
MATRIX_LABELS: dict[str, list[tuple[str, int]]] = {
    "VIANDES_VOLAILLES": [("AB", 3), ("LR", 3), ("Label Rouge, IGP", 1), ("VBF", 2), ("", 3)],
    "CHARCUTERIE": [("Agriculture biologique", 1), ("Label Rouge", 2), ("", 3)],
    "PRODUITS_DE_LA_MER": [("MSC", 3), ("Pêche durable", 2), ("AB", 1), ("", 2)],
    "FRUITS_ET_LEGUMES": [("AB", 4), ("en conversion", 1), ("HVE", 3), ("", 3)],
    "PRODUITS_LAITIERS": [("AB", 3), ("AOP", 3), ("Bleu-Blanc-Cœur", 1), ("", 3)],
}
CONTRACT_SUPPLIER = ("Fournisseur simulé 12", "99999999900013")

Article = tuple[str, str, str]  # code, label, family
#: Per matrix supplier: article code → (raw labels as written, characteristic codes).
Matrices = dict[str, dict[str, tuple[str, list[str]]]]

HEADER = [
    "siret", "description", "fournisseur", "date", "prix_ht", "famille_produits",
    "categories_egalim", "origine", "est_circuit_court", "est_local", "definition_local",
    "definition_local_km",
]


#: The columns of the simulated export when there is a nomenclature (read with ``MAPPING``).
MAPPED_HEADER = [
    "siret", "description", "fournisseur", "siret_fournisseur", "code_article", "date",
    "prix_ht", "famille_produits", "labels", "origine", "definition_local",
]

#: How the importer reads that export: an empty labels and origin cell means "labels unknown"
#: (the line takes its matrix article's), "aucun" means "no label".
MAPPING = {
    "name": "Export simulé de la démonstration (avec codes articles)",
    "empty_labels": "unknown",
    "columns": {
        "canteen_siret": "siret", "description": "description", "supplier": "fournisseur",
        "supplier_siret": "siret_fournisseur", "article_code": "code_article",
        "purchase_date": "date", "price_ht": "prix_ht", "family": "famille_produits",
        "labels": ["labels", "origine"], "local_definition": "definition_local",
    },
    "labels": {"aucun": ""},
}


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def write_simulated_matrices(folder: Path, articles: list[Article], seed: int = 2026) -> Matrices:
    """One matrix file per matrix supplier (``matrice-fournisseur-simule-NN.csv`` in ``folder``),
    as a supplier would write it: its own reference, the nomenclature code, the designation, raw
    label strings and the origin. Returns what each article's labels mean (for the lines)."""
    from observatoire.egalim.matrices import normalise_row

    rng = random.Random(seed)
    out: Matrices = {}
    for supplier, families in MATRIX_SUPPLIERS.items():
        number = supplier[-2:]
        rows = out.setdefault(supplier, {})
        path = folder / f"matrice-fournisseur-simule-{number}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, delimiter=";")
            writer.writerow(["Référence", "Code nomenclature", "Désignation", "Labels", "Origine"])
            for code, label, family in articles:
                if family not in families:
                    continue
                raw = _pick(rng, MATRIX_LABELS[family])
                origin = "France" if rng.random() < 0.7 else "Union européenne"
                writer.writerow([f"F{number}-{code}", code, f"{label} (simulé)", raw, origin])
                rows[code] = (raw, normalise_row(raw, origin)[0])
    return out


def write_simulated_purchases(
    path: Path,
    canteens: list[dict[str, str]],
    declared: dict[str, tuple[float, float]],
    start: date = date(2024, 1, 1),
    end: date = date(2026, 10, 31),
    lines_per_month: int = 30,
    seed: int = 2026,
    articles: list[Article] | None = None,
    matrices: Matrices | None = None,
) -> int:
    """Write the lines of every canteen with a SIRET between ``start`` and ``end``.

    ``declared`` maps a SIRET to its declared (bio, Egalim excluding bio) ratios. Returns the
    number of lines written. With ``articles`` (a nomenclature) the file is an export with
    article codes (``MAPPED_HEADER``, read with ``MAPPING``): a line of a matrix supplier
    (``matrices``) leaves its labels empty half of the time (it takes its matrix article's),
    else writes them, rarely wrongly (a contradiction); 2 % of the lines have no article code.
    """
    rng = random.Random(seed)
    families = list(FAMILY_MIX)
    weights = [FAMILY_MIX[f][0] / FAMILY_MIX[f][1] for f in families]  # value → line counts
    written = 0
    by_family: dict[str, list[Article]] = {}
    for article in articles or []:
        by_family.setdefault(article[2], []).append(article)
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(MAPPED_HEADER if articles else HEADER)
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
                    supplier = rng.choice(SUPPLIERS)
                    if articles:
                        out.writerow(_mapped_row(
                            rng, siret, day, amount, family, labels, origin, is_local, supplier,
                            by_family.get(family, []), (matrices or {}).get(supplier, {}),
                        ))
                        written += 1
                        continue
                    out.writerow([
                        siret,
                        f"Article simulé ({family.lower().replace('_', ' ')})",
                        supplier,
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


def _mapped_row(
    rng: random.Random, siret: str, day: date, amount: float, family: str, labels: list[str],
    origin: str, is_local: bool, supplier: str, articles: list[Article],
    matrix: dict[str, tuple[str, list[str]]],
) -> list[str]:
    code, label, _ = rng.choice(articles) if articles else ("", "Article simulé", family)
    description = label if rng.random() < 0.7 else label.upper()
    if rng.random() < 0.02:  # no article code: only the description (mapping suggestions)
        code, description = "", f"{label} {rng.choice(['5 kg', 'vrac', 'colis', 'bte'])}"
    cells = list(labels)
    if is_local:
        cells.append("LOCAL")
    if code in matrix:
        matrix_codes = [c for c in matrix[code][1] if c not in ("FRANCE", "EUROPE")]
        draw = rng.random()
        if draw < 0.5:
            cells, origin = [], ""  # labels unknown: the matrix article's
        elif draw < 0.99:
            cells = matrix_codes + (["LOCAL"] if is_local else [])
        else:
            cells = ["HVE"] if "HVE" not in matrix_codes else ["BIO"]  # contradicts the matrix
    labels_cell = ",".join(cells) if (cells or origin) else ""
    if not labels_cell and not origin and code not in matrix:
        labels_cell = "aucun"
    supplier_siret = CONTRACT_SUPPLIER[1] if supplier == CONTRACT_SUPPLIER[0] else ""
    return [
        siret, f"{description} (simulé)", supplier, supplier_siret, code, day.isoformat(),
        f"{amount:.2f}", family, labels_cell, origin, "REGION" if "LOCAL" in cells else "",
    ]
