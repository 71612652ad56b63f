"""Legal Egalim targets and the percentages of a yearly summary.

Mainland France: ≥ 50 % durables et de qualité (bio included) and ≥ 20 % bio since 2022
(CRPM L.230-5-1), ≥ 60 % within meat and fish since 2024 (loi Climat et résilience). Overseas
thresholds are lower (ma-cantine ``EGALIM_OBJECTIVES``); the meat-and-fish target is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal


@dataclass(frozen=True)
class LegalTargets:
    egalim: int
    bio: int
    meat_fish: int = 60


MAINLAND = LegalTargets(egalim=50, bio=20)

#: Overseas targets by région / collectivité code (INSEE).
OVERSEAS: dict[str, LegalTargets] = {
    "01": LegalTargets(egalim=20, bio=5),  # Guadeloupe
    "02": LegalTargets(egalim=20, bio=5),  # Martinique
    "03": LegalTargets(egalim=20, bio=5),  # Guyane
    "04": LegalTargets(egalim=20, bio=5),  # La Réunion
    "978": LegalTargets(egalim=20, bio=5),  # Saint-Martin
    "06": LegalTargets(egalim=5, bio=2),  # Mayotte
    "975": LegalTargets(egalim=30, bio=10),  # Saint-Pierre-et-Miquelon
}

#: First year each legal target applies to.
FIRST_YEAR = {"egalim": 2022, "bio": 2022, "meat_fish": 2024}


def legal_targets(region: str | None) -> LegalTargets:
    """The legal targets for a canteen of this région (mainland when unknown)."""
    return OVERSEAS.get((region or "").strip(), MAINLAND)


def objectives_met(bio_percent: float, egalim_percent: float, region: str | None = None) -> bool:
    """Both the bio and the Egalim (bio included) targets are reached."""
    t = legal_targets(region)
    return bio_percent >= t.bio and egalim_percent >= t.egalim


def _percent(part: Decimal, total: Decimal) -> Decimal | None:
    """round(100 × part ÷ total, 2); ``None`` when undefined (no total, or part above total)."""
    if total <= 0 or part > total:
        return None
    return (Decimal(100) * part / total).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class SummaryPercentages:
    bio: Decimal | None
    egalim_excluding_bio: Decimal | None
    egalim: Decimal | None
    objectives_met: bool | None


def summary_percentages(
    total: Decimal,
    bio: Decimal,
    siqo: Decimal,
    externalities_performance: Decimal,
    others: Decimal,
    region: str | None = None,
) -> SummaryPercentages:
    """The percentages of a yearly summary (télédéclaration) from its group values."""
    excluding_bio = siqo + externalities_performance + others
    p_bio = _percent(bio, total)
    p_excl = _percent(excluding_bio, total)
    p_all = _percent(bio + excluding_bio, total)
    met = None
    if p_bio is not None and p_all is not None:
        met = objectives_met(float(p_bio), float(p_all), region)
    return SummaryPercentages(p_bio, p_excl, p_all, met)
