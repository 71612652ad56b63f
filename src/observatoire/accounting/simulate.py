"""A **simulated** PES V2 set for the demo, built from one buyer's real DECP contracts.

No collectivité's PES files are public (see the shared data README): the demo's payment flows
must be generated, and are labelled simulated everywhere: declared so by the
``.provenance.toml`` written next to them (what the connector records and the pages, API and
datasets show, :mod:`observatoire.accounting.provenance`), and said in their names, a comment at
the top of each file, the emitter, the objects of the pieces and the README.

From the marchés of a real DECP 2024 file (one buyer), :func:`generate` writes:

- ``SIMULE_PES_Marche_<siret>.xml``: a ``PES_Aller`` with ``PES_Marche``, the contracts as the
  finance software would send them (element names and order of DGFiP's example);
- ``SIMULE_PES_DepenseAller_<siret>_<year>.xml``: a ``PES_Aller`` with ``PES_DepenseAller`` per
  fiscal year: bordereaux → mandats → lines over each contract's life (advance, monthly
  instalments with a 5 % retention, last instalment, release of the retention a year later),
  with the payment-delay block (DGP), and the cases a reader and its rules must meet: late
  payments and their interest and flat indemnity, a suspended delay, a duplicate mandat
  annulled, a payment beyond the contract's amount, payments outside any contract (one to a
  natural person);
- ``SIMULE_PES_DepenseRetour_<siret>_<year>.xml``: the accountant's answer (prise en charge,
  payments with their dates and amounts, the suspension);
- ``README.md``: provenance (source file and its SHA-256), seed, cases and totals;
- ``.provenance.toml``: the declaration that the folder's files are simulated.

Deterministic: the same source and seed give the same bytes (``random.Random(seed)``, no clock).
Run: ``python -m observatoire.accounting.simulate SOURCE.json --sortie DOSSIER [--graine N]``.
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from observatoire.accounting.provenance import FILE_NAME as PROVENANCE

ALLER_NS = "http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/aller"
RETOUR_NS = "http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/retour"
MARKER = (" SIMULÉ — jeu de démonstration généré par observatoire.accounting.simulate à partir "
          "des marchés réels d'un fichier DECP ; aucun paiement réel. ")
SEED = 2024
VAT = Decimal("0.20")
RETENTION = Decimal("0.05")  # retenue de garantie (CCAG Travaux)
ADVANCE = Decimal("0.05")  # avance forfaitaire
DELAY_DAYS = 30  # délai global de paiement of a collectivité
#: Late-payment interest: ECB main refinancing rate on the first day of the half-year in which
#: the delay ran out, plus 8 points (art. R2192-31 and the arrêté of 2013): 4.25 % on
#: 1 July 2024, 3.15 % on 1 January 2025.
INTEREST_RATE = {(2024, 2): Decimal("12.25"), (2025, 1): Decimal("11.15"),
                 (2025, 2): Decimal("10.15")}
FLAT_INDEMNITY = Decimal("40.00")
CENT = Decimal("0.01")
# M57 accounts: works on buildings, interest and flat indemnity, supplies, maintenance, fees,
# furniture; function 22 (secondary education).
WORKS, INTEREST, FUNCTION = "2313", "6711", "22"


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Tiers:
    ref: str
    name: str
    siret: str | None = None
    first_name: str | None = None
    category: str = "50"  # CatTiers of the DGFiP example's companies
    legal_form: str = "03"  # NatJur of the DGFiP example's companies


@dataclass
class Line:
    nature: str
    amount_ht: Decimal
    amount_tva: Decimal
    label: str
    contract_id: str | None = None
    invoice: str | None = None


@dataclass
class Piece:
    """A mandat (or an annulation) and what the accountant did with it."""

    kind: str  # what the piece is, for the README and the tests
    nature: str  # NatPce
    type: str  # TypPce
    obj: str
    tiers: Tiers
    lines: list[Line]
    emitted: date
    received: date | None = None  # invoice received: start of the payment delay (DGP)
    paid: date | None = None
    taken: date | None = None  # prise en charge
    suspension: tuple[date, date] | None = None
    cancels: Piece | None = None
    year: int = 0
    piece_id: int = 0

    @property
    def batch_type(self) -> str:
        return "02" if self.cancels is not None else "01"

    @property
    def due(self) -> date | None:
        if self.received is None:
            return None
        days = DELAY_DAYS + (self.suspended_days if self.suspension else 0)
        return self.received + timedelta(days=days)

    @property
    def suspended_days(self) -> int:
        return (self.suspension[1] - self.suspension[0]).days if self.suspension else 0


@dataclass
class Contract:
    id: str
    buyer: str
    object: str
    cpv: str
    procedure: str
    place: str
    notified: date
    published: date
    months: int
    amount: Decimal
    holder: Tiers
    advance_granted: bool
    pieces: list[Piece] = field(default_factory=list)


def read_contracts(source: Path) -> list[Contract]:
    """The marchés of a DECP 2024 JSON file (one buyer), as published."""
    doc = json.loads(source.read_text(encoding="utf-8"))
    marches = doc["marches"]["marche"] if isinstance(doc["marches"], dict) else doc["marches"]
    contracts = []
    for m in marches:
        holder = m["titulaires"][0]
        holder = holder.get("titulaire", holder)
        siret = holder["id"]
        contracts.append(Contract(
            id=m["id"], buyer=m["acheteur"]["id"], object=" ".join(m["objet"].split()),
            cpv=m["codeCPV"], procedure=m["procedure"], place=m["lieuExecution"]["code"],
            notified=date.fromisoformat(m["dateNotification"][:10]),
            published=date.fromisoformat(m["datePublicationDonnees"][:10]),
            months=int(m["dureeMois"]), amount=cents(Decimal(str(m["montant"]))),
            holder=Tiers(ref=f"T{siret[-6:]}", name=f"TITULAIRE SIRET {siret}", siret=siret),
            advance_granted=bool(m.get("attributionAvance"))))
    buyers = {c.buyer for c in contracts}
    if len(buyers) != 1:
        raise ValueError(f"{source}: one buyer expected, found {sorted(buyers)}")
    return sorted(contracts, key=lambda c: c.id)


def _ttc_lines(nature: str, ht: Decimal, label: str, contract: Contract | None,
               invoice: str | None = None) -> list[Line]:
    return [Line(nature, ht, cents(ht * VAT), label, contract.id if contract else None, invoice)]


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _simulate_contract(c: Contract, rng: random.Random, advance: bool) -> None:
    """The contract's life: an advance when simulated, one instalment a month of works (5 %
    retained), the last instalment, the retention released a year after the last one."""
    start = c.notified + timedelta(days=7)  # ordre de service
    weights = [Decimal(str(round(rng.uniform(0.6, 1.4), 3))) for _ in range(c.months)]
    values = [cents(c.amount * w / sum(weights)) for w in weights]
    values[-1] += c.amount - sum(values)  # the works add up to the amount, to the cent
    advance_ht = cents(c.amount * ADVANCE) if advance else Decimal(0)
    recoveries = [Decimal(0)] * c.months
    if advance:
        received = c.notified + timedelta(days=10)
        c.pieces.append(Piece("avance", "14", "09", f"AVANCE FORFAITAIRE {c.id} - SIMULE",
                              c.holder, _ttc_lines(WORKS, advance_ht, "AVANCE", c),
                              emitted=received + timedelta(days=4), received=received))
        later = list(range(1, c.months)) or [0]  # recovered on the instalments after the first
        share = cents(advance_ht / len(later))
        for k in later:
            recoveries[k] = share
        recoveries[later[-1]] += advance_ht - share * len(later)
    retained = Decimal(0)
    situation = _month_end(start)
    for k, value in enumerate(values):
        hold = cents(value * RETENTION)
        retained += hold
        ht = value - hold - recoveries[k]
        last = k == len(values) - 1
        received = situation + timedelta(days=rng.randint(2, 6))
        invoice = f"F{c.id[-5:]}-{k + 1:02d}"
        c.pieces.append(Piece(
            "dernier acompte" if last else "acompte", "13" if last else "02", "09",
            f"{'DERNIER ACOMPTE' if last else f'ACOMPTE {k + 1}'} {c.id} - SIMULE", c.holder,
            _ttc_lines(WORKS, ht, f"SITUATION {k + 1}", c, invoice),
            emitted=received + timedelta(days=rng.randint(3, 9)), received=received))
        situation = _month_end(situation + timedelta(days=1))
    received = situation + timedelta(days=365 + rng.randint(0, 10))
    c.pieces.append(Piece("retenue de garantie", "12", "09",
                          f"LIBERATION RETENUE GARANTIE {c.id} - SIMULE", c.holder,
                          _ttc_lines(WORKS, retained, "RETENUE DE GARANTIE", c),
                          emitted=received + timedelta(days=rng.randint(3, 9)),
                          received=received))


def _pay(pieces: Iterable[Piece], rng: random.Random) -> None:
    """Prise en charge a few days after emission; payment within the delay."""
    for p in pieces:
        p.taken = p.emitted + timedelta(days=rng.randint(1, 4))
        if p.received is not None:
            p.paid = max(p.taken + timedelta(days=1),
                         p.received + timedelta(days=rng.randint(12, 27)))
        else:
            p.paid = p.taken + timedelta(days=rng.randint(2, 8))


def _interest(p: Piece, contract: Contract, rng: random.Random) -> Piece:
    """Interest on a late payment (TTC × rate × days late / 365) and the flat indemnity."""
    assert p.paid is not None and p.due is not None
    late = (p.paid - p.due).days
    rate = INTEREST_RATE[(p.due.year, 1 if p.due.month <= 6 else 2)]
    ttc = sum((ln.amount_ht + ln.amount_tva for ln in p.lines), Decimal(0))
    amount = cents(ttc * rate / 100 * late / 365)
    emitted = p.paid + timedelta(days=rng.randint(8, 15))
    return Piece("intérêts moratoires", "01", "01", f"INTERETS MORATOIRES {contract.id} - SIMULE",
                 contract.holder,
                 [Line(INTEREST, amount, Decimal(0), f"INTERETS {late} J A {rate} %", contract.id),
                  Line(INTEREST, FLAT_INDEMNITY, Decimal(0), "INDEMNITE FORFAITAIRE 40 EUR",
                       contract.id)],
                 emitted=emitted)


OUTSIDE = [  # payments outside any contract: (account, HT, label, tiers, month offset)
    ("60632", Decimal("386.40"), "PETIT EQUIPEMENT",
     Tiers("SIMU-F01", "FOURNISSEUR SIMULE 1"), 1),
    ("6156", Decimal("1180.00"), "MAINTENANCE CHAUDIERE",
     Tiers("SIMU-F02", "FOURNISSEUR SIMULE 2"), 3),
    ("6228", Decimal("640.00"), "ANIMATION ATELIER",
     Tiers("SIMU-P01", "PERSONNE SIMULEE", first_name="A", category="01", legal_form="01"), 4),
    ("2184", Decimal("3250.00"), "MOBILIER INTERNAT",
     Tiers("SIMU-F03", "FOURNISSEUR SIMULE 3"), 13),
]


def simulate(contracts: list[Contract], seed: int = SEED) -> list[Piece]:
    """Every piece of the set, numbered per fiscal year in emission order."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible demo, not a secret)
    big = [c for c in contracts if c.amount > 50_000 and c.months > 2]
    advanced = max(big, key=lambda c: c.amount) if big else None
    for c in contracts:
        _simulate_contract(c, rng, c is advanced)
    by_id = {c.id: c for c in contracts}
    pieces = [p for c in contracts for p in c.pieces]
    _pay(pieces, rng)
    # late payments: the second instalment of the largest contract, the last of another
    ordered = sorted(contracts, key=lambda c: c.amount, reverse=True)
    late = [ordered[0].pieces[2 if advanced is ordered[0] else 1], ordered[1].pieces[-2]]
    for p, days in zip(late, (17, 44), strict=True):
        assert p.due is not None
        p.paid = p.due + timedelta(days=days)
    extra = [_interest(p, by_id[p.lines[0].contract_id or ""], rng) for p in late]
    # a suspended delay (a missing document): paid late on the calendar, not late in law
    suspended = ordered[2].pieces[-2]
    assert suspended.received is not None
    suspended.suspension = (suspended.received + timedelta(days=9),
                            suspended.received + timedelta(days=21))
    assert suspended.due is not None
    suspended.paid = suspended.due - timedelta(days=2)
    # a duplicate of an instalment, annulled before payment (and never paid)
    original = ordered[3].pieces[0]
    duplicate = Piece("doublon annulé", original.nature, original.type, original.obj,
                      original.tiers, [Line(**vars(ln)) for ln in original.lines],
                      emitted=original.emitted, received=original.received)
    annulment = Piece("annulation", "06", "01", f"ANNULATION DOUBLON {ordered[3].id} - SIMULE",
                      original.tiers, [Line(**vars(ln)) for ln in original.lines],
                      emitted=original.emitted + timedelta(days=6), cancels=duplicate)
    # works beyond the contract's amount, without a modification: the overpayment case
    small = ordered[-1]
    last = small.pieces[-2]
    over = Piece("paiement au-delà du montant", "02", "09",
                 f"TRAVAUX SUPPLEMENTAIRES SANS AVENANT {small.id} - SIMULE", small.holder,
                 _ttc_lines(WORKS, Decimal("1450.00"), "TRAVAUX SUPPLEMENTAIRES", small,
                            f"F{small.id[-5:]}-SUP"),
                 emitted=last.emitted + timedelta(days=20),
                 received=last.emitted + timedelta(days=14))
    start = min(c.notified for c in contracts)
    outside = [Piece("hors marché", "02" if acc.startswith("2") else "01", "01",
                     f"{label} - SIMULE", tiers,
                     _ttc_lines(acc, ht, label, None, f"FS{i + 1:03d}"),
                     emitted=_month_end(start + timedelta(days=31 * months)) - timedelta(days=3),
                     received=_month_end(start + timedelta(days=31 * months)) - timedelta(days=9))
               for i, (acc, ht, label, tiers, months) in enumerate(OUTSIDE)]
    _pay([duplicate, annulment, over, *outside, *extra], rng)
    duplicate.paid = None
    annulment.paid = None
    everything = sorted([*pieces, duplicate, annulment, over, *outside, *extra],
                        key=lambda p: (p.emitted, p.cancels is not None, p.obj))
    counters: dict[int, int] = {}
    for p in everything:
        p.year = p.emitted.year
        counters[p.year] = counters.get(p.year, 0) + 1
        p.piece_id = counters[p.year]
    return everything


# --- XML --------------------------------------------------------------------------------------

def _v(parent: etree._Element, tag: str, value: object) -> etree._Element:
    el = etree.SubElement(parent, tag)
    el.set("V", str(value))
    return el


def _header(root: etree._Element, name: str, file_type: str, buyer: str, stamp: date) -> None:
    env = etree.SubElement(root, "Enveloppe")
    params = etree.SubElement(env, "Parametres")
    _v(params, "Version", 2)
    _v(params, "TypFic", file_type)
    _v(params, "NomFic", name)
    sender = etree.SubElement(env, "Emetteur")
    _v(sender, "Sigle", "SIMULATION OBSERVATOIRE")
    _v(sender, "Adresse", "JEU DE DEMONSTRATION SIMULE")
    head = etree.SubElement(root, "EnTetePES")
    _v(head, "DteStr", stamp.isoformat())
    _v(head, "IdPost", "022000")
    _v(head, "IdColl", buyer)
    _v(head, "CodCol", "001")
    _v(head, "CodBud", "00")
    _v(head, "LibelleColBud", "ACHETEUR (DONNEES SIMULEES)")


def _document(ns: str, root_tag: str, name: str) -> etree._Element:
    root = etree.Element(etree.QName(ns, root_tag), nsmap={"n": ns})
    root.set("Id", name.replace(".xml", "").replace("_", "-"))
    return root


def _tostring(root: etree._Element) -> bytes:
    body = etree.tostring(root, encoding="UTF-8", pretty_print=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n<!--' + MARKER.encode() + b"-->\n" + body


def _tiers(parent: etree._Element, t: Tiers) -> None:
    tiers = etree.SubElement(parent, "Tiers")
    info = etree.SubElement(tiers, "InfoTiers")
    if t.siret:
        _v(info, "IdTiers", t.siret)
        _v(info, "NatIdTiers", "01")
    _v(info, "RefTiers", t.ref)
    _v(info, "CatTiers", t.category)
    _v(info, "NatJur", t.legal_form)
    _v(info, "Nom", t.name)
    if t.first_name:
        _v(info, "Prenom", t.first_name)


def _batches(pieces: list[Piece]) -> list[tuple[int, date, str, list[Piece]]]:
    groups: dict[tuple[date, str], list[Piece]] = {}
    for p in pieces:
        groups.setdefault((p.emitted, p.batch_type), []).append(p)
    return [(i + 1, day, kind, group)
            for i, ((day, kind), group) in enumerate(sorted(groups.items()))]


def depense_aller(buyer: str, year: int, pieces: list[Piece]) -> bytes:
    name = f"SIMULE_PES_DepenseAller_{buyer}_{year}.xml"
    root = _document(ALLER_NS, "PES_Aller", name)
    batches = _batches(pieces)
    _header(root, name, "PESALR2", buyer, batches[-1][1])
    dep = etree.SubElement(root, "PES_DepenseAller")
    _v(etree.SubElement(dep, "EnTeteDepense"), "IdVer", 2)
    for batch_id, day, kind, group in batches:
        bord = etree.SubElement(dep, "Bordereau")
        bord.set("Id", f"BORD{year}{batch_id:04d}")
        bloc = etree.SubElement(bord, "BlocBordereau")
        _v(bloc, "Exer", year)
        _v(bloc, "IdBord", batch_id)
        _v(bloc, "DteBordEm", day.isoformat())
        _v(bloc, "TypBord", kind)
        _v(bloc, "NbrPce", len(group))
        _v(bloc, "MtBordHT", sum((ln.amount_ht for p in group for ln in p.lines), Decimal(0)))
        _v(bloc, "MtBordTVA", sum((ln.amount_tva for p in group for ln in p.lines), Decimal(0)))
        for p in group:
            piece = etree.SubElement(bord, "Piece")
            bp = etree.SubElement(piece, "BlocPiece")
            info = etree.SubElement(bp, "InfoPce")
            _v(info, "IdPce", p.piece_id)
            _v(info, "TypPce", p.type)
            _v(info, "NatPce", p.nature)
            _v(info, "Obj", p.obj[:100])
            if p.received is not None:
                assert p.due is not None
                dgp = etree.SubElement(bp, "DGP")
                _v(dgp, "Dgp", "true")
                _v(dgp, "DteDebDgp", p.received.isoformat())
                _v(dgp, "DteFinDgp", (p.received + timedelta(days=DELAY_DAYS)).isoformat())
                _v(dgp, "DureeDgp", DELAY_DAYS)
                _v(dgp, "CodIntMor", "02")  # ECB rate (+ 8 points)
                _v(dgp, "TxIntMor", INTEREST_RATE.get(
                    (p.due.year, 1 if p.due.month <= 6 else 2), Decimal("12.25")))
            for n, ln in enumerate(p.lines, start=1):
                lp = etree.SubElement(piece, "LigneDePiece")
                bl = etree.SubElement(lp, "BlocLignePiece")
                il = etree.SubElement(bl, "InfoLignePce")
                _v(il, "IdLigne", n)
                _v(il, "Nature", ln.nature)
                _v(il, "Fonction", FUNCTION)
                if ln.invoice:
                    _v(il, "Facture", ln.invoice)
                _v(il, "LibVir1", f"{ln.label} - SIMULE"[:70])
                _v(il, "ModRegl", "03")
                _v(il, "TVAIntraCom", 0)
                _v(il, "MtHT", ln.amount_ht)
                _v(il, "MtTVA", ln.amount_tva)
                if p.cancels is not None:
                    rat = etree.SubElement(bl, "RattachPiece")
                    _v(rat, "NatPceOrig", "01")
                    _v(rat, "ExerRat", p.cancels.year)
                    _v(rat, "IdPceOrig", p.cancels.piece_id)
                    _v(rat, "IdLigneOrig", n)
                if ln.contract_id:
                    _v(etree.SubElement(bl, "LiensIdent"), "IdMarche", ln.contract_id)
                _tiers(lp, p.tiers)
    return _tostring(root)


def depense_retour(buyer: str, year: int, pieces: list[Piece], payments: list[int]) -> bytes:
    """The accountant's answer; ``payments`` numbers the payments (IdPay) across the calls."""
    name = f"SIMULE_PES_DepenseRetour_{buyer}_{year}.xml"
    root = _document(RETOUR_NS, "PES_Retour", name)
    batches = _batches(pieces)
    last = max((p.paid or p.taken or p.emitted) for p in pieces)
    _header(root, name, "PESRETOUR_DEP", buyer, last)
    dep = etree.SubElement(root, "PES_DepenseRetour")
    _v(etree.SubElement(dep, "EnTeteDepense"), "IdVer", 2)
    for batch_id, day, kind, group in batches:
        bord = etree.SubElement(dep, "Bordereau")
        bloc = etree.SubElement(bord, "BlocBordereau")
        _v(bloc, "Exer", year)
        _v(bloc, "IdBord", batch_id)
        _v(bloc, "DteBordEm", day.isoformat())
        _v(bloc, "TypBord", kind)
        _v(bloc, "NbrPce", len(group))
        _v(bloc, "MtBordHT", sum((ln.amount_ht for p in group for ln in p.lines), Decimal(0)))
        for p in group:
            piece = etree.SubElement(bord, "Piece")
            bp = etree.SubElement(piece, "BlocPiece")
            info = etree.SubElement(bp, "InfoPce")
            _v(info, "IdPce", p.piece_id)
            _v(info, "TypPce", p.type)
            _v(info, "NatPce", p.nature)
            assert p.taken is not None
            _v(info, "DtePcePec", p.taken.isoformat())
            _v(info, "EtatPce", "05" if p.paid else "02")  # soldé, or only taken in charge
            if p.suspension:
                dgp = etree.SubElement(bp, "DGP")
                _v(dgp, "DteDebSusp", p.suspension[0].isoformat())
                _v(dgp, "DteFinSusp", p.suspension[1].isoformat())
                _v(dgp, "NatSusp", "01")
            for n, ln in enumerate(p.lines, start=1):
                lp = etree.SubElement(piece, "LigneDePiece")
                bl = etree.SubElement(lp, "BlocLignePiece")
                il = etree.SubElement(bl, "InfoLignePce")
                _v(il, "IdLigne", n)
                _v(il, "Nature", ln.nature)
                _v(il, "MtHT", ln.amount_ht)
                _v(il, "MtTVA", ln.amount_tva)
                ttc = ln.amount_ht + ln.amount_tva
                pay = etree.SubElement(bl, "InfoPaiement")
                _v(pay, "NbrPay", 1 if p.paid else 0)
                _v(pay, "MtPayTot", ttc if p.paid else Decimal("0.00"))
                if ln.contract_id:
                    _v(etree.SubElement(bl, "LiensIdent"), "IdMarche", ln.contract_id)
                if p.paid:
                    payments[0] += 1
                    paid = etree.SubElement(lp, "Paiement")
                    _v(paid, "ModeReg", "03")
                    _v(paid, "DtePay", p.paid.isoformat())
                    _v(paid, "IdPay", payments[0])
                    _v(paid, "MtPay", ttc)
    return _tostring(root)


PROCEDURES = {"Appel d'offres ouvert": "02", "Procédure adaptée": "01"}


def pes_marche(contracts: list[Contract]) -> bytes:
    """The contracts as PES Marché, in the element order of DGFiP's example. The code lists are
    not in the reference material: codes are those of the example (see the README)."""
    buyer = contracts[0].buyer
    name = f"SIMULE_PES_Marche_{buyer}.xml"
    root = _document(ALLER_NS, "PES_Aller", name)
    _header(root, name, "PESALR2", buyer, max(c.published for c in contracts))
    marche = etree.SubElement(root, "PES_Marche")
    _v(etree.SubElement(marche, "EnTeteMarche"), "IdVer", 2)
    items = etree.SubElement(marche, "Marches")
    for c in contracts:
        m = etree.SubElement(items, "Marche")
        ident = etree.SubElement(m, "IdentifiantMarche")
        _v(ident, "IdContrat", c.id)
        _v(ident, "SequenceEnvoi", 1)
        _v(ident, "CaractereCorrectifEnregistrement", 0)
        buyers = etree.SubElement(m, "Acheteurs")
        one = etree.SubElement(buyers, "Acheteur")
        _v(one, "IdAcheteur", c.buyer)
        _v(one, "MontantHTEstime", c.amount)
        _v(m, "NatureMarche", "01")
        _v(m, "Objet", c.object[:1000])
        _v(m, "CodeCPV", c.cpv)
        _v(m, "ProcedureMarche", PROCEDURES.get(c.procedure, "02"))
        place = etree.SubElement(m, "LieuExecution")
        _v(place, "CodeLieuExecution", c.place)
        _v(place, "TypeCode", "04")
        _v(m, "DureeEnMois", c.months)
        _v(m, "MontantHTNotifie", c.amount)
        _v(m, "CaractereEstimatifMontantNotifie", 0)
        _v(m, "MontantTVANotifie", cents(c.amount * VAT))
        _v(m, "FormePrix", "01")
        _v(m, "DateNotification", c.notified.isoformat())
        _v(m, "DatePublicationDonnees", c.published.isoformat())
        ops = etree.SubElement(m, "Operateurs")
        holder = etree.SubElement(ops, "Titulaire")
        _v(holder, "TypeTitulaireMarche", "01")
        _v(holder, "NatIdTitulaire", "01")
        _v(holder, "IdTitulaire", c.holder.siret)
        _v(holder, "DenominationSociale", c.holder.name)
        _v(holder, "CatTiers", c.holder.category)
        _v(holder, "NatJur", c.holder.legal_form)
        cond = etree.SubElement(holder, "ConditionsExecutionTitulaire")
        advance = any(p.kind == "avance" for p in c.pieces)
        _v(cond, "PourcentageAvance", int(ADVANCE * 100) if advance else 0)
        guarantee = etree.SubElement(cond, "Garantie")
        _v(guarantee, "TypeGarantie", "01")
        _v(guarantee, "DelaiGarantie", 12)
        _v(guarantee, "TauxGarantie", int(RETENTION * 100))
        _v(guarantee, "MontantGarantie", cents(c.amount * RETENTION))
        _v(cond, "DateDebutExecution", (c.notified + timedelta(days=7)).isoformat())
        _v(cond, "FormePrix", "01")
        _v(cond, "Penalite", 0)
        ce = etree.SubElement(m, "ConditionsExecution")
        _v(ce, "ModaliteExecution", "01")
        _v(ce, "MultiBudget", 0)
        _v(ce, "ClauseSociale", 0)
        _v(ce, "ClauseEnvironnementale", 0)
        _v(ce, "TypeGroupement", "03")
        _v(ce, "CCAGReference", "01")
    return _tostring(root)


# --- the set ----------------------------------------------------------------------------------

def generate(source: Path, out: Path, seed: int = SEED) -> dict[str, bytes]:
    """Write the simulated set for the buyer of ``source`` in ``out``; the files by name."""
    contracts = read_contracts(source)
    pieces = simulate(contracts, seed)
    buyer = contracts[0].buyer
    files = {f"SIMULE_PES_Marche_{buyer}.xml": pes_marche(contracts)}
    payments = [0]
    for year in sorted({p.year for p in pieces}):
        mine = [p for p in pieces if p.year == year]
        files[f"SIMULE_PES_DepenseAller_{buyer}_{year}.xml"] = depense_aller(buyer, year, mine)
        files[f"SIMULE_PES_DepenseRetour_{buyer}_{year}.xml"] = depense_retour(
            buyer, year, mine, payments)
    files["README.md"] = readme(source, seed, contracts, pieces, files).encode()
    # the declaration the connector reads: the files of this folder are simulated
    files[PROVENANCE] = (
        "# Déclaration de provenance (observatoire.accounting.provenance) : les fichiers de ce\n"
        "# dossier sont simulés ; leurs lignes sont étiquetées « simulé » partout.\n"
        "simule = true\n"
        f'description = "jeu PES V2 de démonstration généré par observatoire.accounting.simulate '
        f'(graine {seed}) : aucun paiement réel"\n').encode()
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out / name).write_bytes(data)
    return files


def _fmt(value: Decimal) -> str:
    return f"{value:,.2f}".replace(",", " ").replace(".", ",")


def readme(source: Path, seed: int, contracts: list[Contract], pieces: list[Piece],
           files: dict[str, Any]) -> str:
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    buyer = contracts[0].buyer
    rows = []
    for c in contracts:
        paid = sum((ln.amount_ht for p in pieces if p.cancels is None and p.kind != "doublon annulé"
                    for ln in p.lines if ln.contract_id == c.id and ln.nature == WORKS),
                   Decimal(0))
        rows.append(f"| `{c.id}` | {c.notified.isoformat()} | {c.months} | {_fmt(c.amount)} | "
                    f"{_fmt(paid)} |")
    cases = sorted({p.kind for p in pieces})
    listing = "\n".join(f"- `{name}`" for name in files if name not in ("README.md", PROVENANCE))
    return f"""# Jeu PES V2 **simulé** (démonstration)

**Aucune donnée de ce dossier n'est un paiement réel.** Ces fichiers sont générés par
`observatoire.accounting.simulate` (graine {seed}) à partir des marchés **réels** d'un acheteur
breton publiés en DECP 2024 ; tout le reste — mandats, dates de réception des factures,
paiements, intérêts, annulation, paiements hors marché, noms des tiers — est simulé. Chaque
fichier le dit : nom en `SIMULE_…`, commentaire en tête, émetteur « SIMULATION OBSERVATOIRE »,
objets des pièces terminés par « SIMULE ». Surtout, le fichier `.provenance.toml` de ce
dossier les **déclare simulés** : l'observatoire l'enregistre au dépôt de chaque fichier et
étiquette ses lignes « simulé » sur les pages, dans l'API et les jeux de données, quel que soit
le nom du fichier (déposez-les avec ce fichier à côté).

## Provenance

- Source : `{source.name}` (données essentielles réelles, {len(contracts)} marchés de l'acheteur
  `{buyer}`, publiés via Mégalis Bretagne), SHA-256 `{digest}`.
- Régénérer (mêmes octets), depuis la racine du projet :

  ```sh
  python -m observatoire.accounting.simulate \\
      demo/data/decp/v2/{source.name} \\
      --sortie demo/data/pes-simule --graine {seed}
  ```

## Fichiers

{listing}

## Les marchés et ce qui est payé (HT, compte {WORKS}, annulation déduite)

| Marché | Notifié le | Durée (mois) | Montant DECP (€ HT) | Mandaté (€ HT) |
|---|---|---|---|---|
{chr(10).join(rows)}

## Cas simulés

Nature des pièces présentes : {", ".join(cases)}.

- **Avance forfaitaire** (5 %) sur le plus gros marché de plus de 50 000 € et de plus de
  2 mois, récupérée sur les acomptes suivants. La DECP de ce marché dit
  `attributionAvance: false` : l'écart est voulu (cas d'une avance que le marché ne prévoit pas).
- **Acomptes** mensuels (retenue de garantie de 5 %), **dernier acompte** (NatPce 13),
  **libération de la retenue** un an plus tard (NatPce 12).
- **Retards de paiement** : deux pièces payées 17 et 44 jours après la fin du délai de
  {DELAY_DAYS} jours ; leurs **intérêts moratoires** (TTC × (taux BCE du semestre + 8 points) ×
  jours / 365) et l'**indemnité forfaitaire** de 40 € sont mandatés à part (compte {INTEREST}).
- **Suspension** du délai (12 jours) : payée après 30 jours calendaires mais dans le délai.
- **Annulation** : un acompte émis en double, annulé par un bordereau d'annulation (TypBord 02,
  NatPce 06, rattaché à la pièce d'origine) ; ni le doublon ni l'annulation ne sont payés.
- **Paiement au-delà du montant** : 1 450 € HT de « travaux supplémentaires sans avenant » sur
  le plus petit marché (payé > montant + modifications).
- **Hors marché** : quatre pièces sans `IdMarche`, à des tiers sans SIRET (dont une personne
  physique, CatTiers 01, à ne jamais publier par son nom).

## Schémas et hypothèses

- `PES_DepenseAller` : valide contre les XSD PES V2 de la DGFiP (révision 2.1.a,
  `PES_Aller.xsd`) ; `IdVer` 2.
- `PES_DepenseRetour` : les blocs que couvrent les classes Retour (`BlocPiece`,
  `BlocLignePiece`, `Paiement`) y sont valides ; l'enveloppe Retour (racine `PES_Retour`,
  `PES_DepenseRetour`, `Bordereau`, `Piece`, `LigneDePiece`, `Paiement` sous la ligne) suit la
  structure de l'Aller, faute de schéma racine public.
- `PES_Marche` : aucune XSD publique ne le couvre ; noms et ordre des éléments de l'exemple de
  la DGFiP. Les listes de codes n'étant pas publiées, les codes (NatureMarche 01,
  ProcedureMarche, TypeCode 04, FormePrix 01, CCAGReference 01, TypeGroupement 03…) sont des
  hypothèses, sans autre sens dans la démonstration.
- Tiers des marchés : identifiés par le SIRET réel du titulaire (la DECP 2024 ne publie aucun
  nom) ; nom « TITULAIRE SIRET … ».
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Génère le jeu PES V2 simulé de la démonstration.")
    parser.add_argument("source", type=Path, help="fichier DECP 2024 (JSON) d'un acheteur")
    parser.add_argument("--sortie", type=Path, required=True, help="dossier à écrire")
    parser.add_argument("--graine", type=int, default=SEED, help="graine du hasard")
    args = parser.parse_args(argv)
    try:
        names = generate(args.source, args.sortie, args.graine)
    except (OSError, ValueError, KeyError, TypeError) as error:
        # a file that is not one buyer's DECP 2024 JSON: say so, no traceback
        message = (f"Erreur : {args.source} n'est pas un fichier DECP 2024 (JSON) lisible d'un "
                   f"seul acheteur ({type(error).__name__} : {error}).\nQue faire : donnez le "
                   "fichier DECP 2024 d'un acheteur, par exemple demo/data/decp/v2/"
                   "megalis_decp-59920013600241-2024-07-09-01.json.")
        raise SystemExit(message) from None
    for name in names:
        print(args.sortie / name)


if __name__ == "__main__":
    main()
