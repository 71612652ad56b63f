"""PES V2 ``PES_Retour`` with ``PES_DepenseRetour``: what the public accountant did with each
mandat (state, prise en charge, rejection, suspensions of the payment delay) and the payments
made, one PAYMENT_EVENTS row per payment (``Paiement``), or one per line without payment.

The classes we have (``schemas/pes-v2/retour``) describe the piece block (``InfoPce``, ``DGP``
with its suspension), the line block (``InfoLignePce``, ``InfoPaiement``) and ``Paiement``; the
root schema of the Retour is not among them. So each of those blocks is validated, and the
reader takes a line's payments wherever they sit under the line (``LigneDePiece//Paiement``);
payments directly under the piece are attached to the piece (no line id).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from lxml import etree

from observatoire.accounting.pes_common import (
    SIGNATURE,
    PesResult,
    Reporter,
    RowWriter,
    children,
    day,
    drop_previous,
    euros,
    integer,
    leaves,
    line_of,
    money,
    note_signature,
    v,
)
from observatoire.accounting.pes_schema import (
    RETOUR_NS,
    WRAPPER_NS,
    aller_schema,
    retour_schema,
)

FLOW = "pes_retour"
TAGS = ("Enveloppe", "EnTetePES", "EnTeteDepense", "BlocBordereau", "Piece", "Bordereau",
        SIGNATURE)

#: EtatPce codes (official schema's documentation).
PIECE_STATES = {"01": "En instance", "02": "Prise en charge", "03": "Prise en charge partielle",
                "04": "Rejeté", "05": "Soldé"}


class RetourReader:
    def __init__(self, result: PesResult, report: Reporter, events: RowWriter) -> None:
        self.result, self.report, self.events = result, report, events
        self.buyer_id: str | None = None
        self.batch: dict[str, Any] = {}
        self.position = 0
        self.keys: set[tuple[Any, ...]] = set()
        self.aller = aller_schema()
        self.retour = retour_schema()

    def where(self) -> str:
        c = self.result
        return f"{c.bordereaux} bordereau(x), {c.pieces} pièce(s), {c.records_in} ligne(s)"

    def handle(self, el: etree._Element) -> None:
        tag = el.tag
        if tag == "Piece":
            self.piece(el)
            drop_previous(el)
        elif tag == "Bordereau":
            drop_previous(el)
        elif tag == "BlocBordereau":
            self.result.bordereaux += 1
            self.batch = {"fiscal_year": integer(v(el, "Exer")), "batch_id": v(el, "IdBord")}
        elif tag in ("Enveloppe", "EnTetePES"):
            if tag == "EnTetePES":
                self.buyer_id = v(el, "IdColl")
            self.report.check(tag, self.aller, WRAPPER_NS, el, None)
        elif tag == "EnTeteDepense":
            self.result.revision = v(el, "IdVer")
        elif tag == SIGNATURE:
            note_signature(self.result, self.report, el)
            el.clear()

    def piece(self, el: etree._Element) -> None:
        res = self.result
        res.pieces += 1
        bloc = children(el).get("BlocPiece")
        blocks = children(bloc)
        info, dgp = leaves(blocks.get("InfoPce")), leaves(blocks.get("DGP"))
        piece_id = info.get("IdPce")
        record = (f"bordereau n° {self.batch.get('batch_id')} (exercice "
                  f"{self.batch.get('fiscal_year')}), pièce n° {piece_id}")
        if bloc is not None:
            self.report.check("Pièce (retour)", self.retour, RETOUR_NS, bloc, record)
        start, end = day(dgp.get("DteDebSusp")), day(dgp.get("DteFinSusp"))
        base = {
            "file_hash": self.result.file_hash,
            "flow": FLOW,
            "buyer_id": self.buyer_id,
            **self.batch,
            "piece_id": piece_id,
            "piece_type": info.get("TypPce"),
            "piece_nature": info.get("NatPce"),
            "state": info.get("EtatPce"),
            "state_note": info.get("ObsEtat"),
            "integrated_date": day(info.get("DtePceInt")),
            "taken_in_charge_date": day(info.get("DtePcePec")),
            "rejected_date": day(info.get("DtePceRej")),
            "pending_date": day(info.get("DtePceInst")),
            "suspension_start": start,
            "suspension_end": end,
            "suspension_reason": dgp.get("NatSusp"),
            "suspension_days": (end - start).days if start and end else None,
        }
        for line_el in el.iterchildren("LigneDePiece"):
            self.line(line_el, base, record)
        for pay in el.iterchildren("Paiement"):  # payments given for the whole piece
            self.report.check("Paiement", self.retour, RETOUR_NS, pay, record)
            try:
                payment = self._payment(pay, record)
            except ValueError as exc:
                self.report.add(
                    "PES_LINE_SET_ASIDE",
                    f"Paiement mis de côté : le montant « {exc.args[0]} » n'est pas lisible.",
                    "Signalez-le au comptable public.", line=line_of(pay), record=record)
                continue
            self.position += 1
            self.events.append({**base, "position": self.position, "line": line_of(pay),
                             **payment})

    def line(self, el: etree._Element, base: dict[str, Any], piece_record: str) -> None:
        res = self.result
        res.records_in += 1
        bloc = children(el).get("BlocLignePiece")
        blocks = children(bloc)
        info, paid = leaves(blocks.get("InfoLignePce")), leaves(blocks.get("InfoPaiement"))
        line_id = info.get("IdLigne")
        record = f"{piece_record}, ligne n° {line_id}"
        if bloc is not None:
            self.report.check("Ligne (retour)", self.retour, RETOUR_NS, bloc, record)
        if base["piece_id"] is None or line_id is None:
            res.set_aside += 1
            self.report.add(
                "PES_LINE_SET_ASIDE",
                "Ligne de retour mise de côté : sans numéro de pièce (IdPce) ou de ligne "
                "(IdLigne), elle ne peut pas être rattachée à un mandat.",
                "Signalez-le au comptable public.", line=line_of(el), record=record)
            return
        key = (base.get("fiscal_year"), base["piece_id"], line_id, base["state"],
               base["taken_in_charge_date"])
        if key in self.keys:
            res.duplicates += 1
            self.report.add(
                "PES_DUPLICATE_LINE",
                f"La ligne n° {line_id} de la pièce n° {base['piece_id']} figure deux fois avec "
                "le même état : la seconde est comptée comme doublon.",
                "Rien à faire.", line=line_of(el), record=record)
            return
        self.keys.add(key)
        try:
            common = {
                **base,
                "line_id": line_id,
                "line_amount_ht": money(info.get("MtHT")),
                "payments_count": integer(paid.get("NbrPay")),
                "amount_paid_total": money(paid.get("MtPayTot")),
                "contract_ref": leaves(blocks.get("LiensIdent")).get("IdMarche"),
            }
            payments = [self._payment(p, record) for p in el.iterfind(".//Paiement")]
        except ValueError as exc:
            res.set_aside += 1
            self.report.add(
                "PES_LINE_SET_ASIDE",
                f"Ligne de retour mise de côté : le montant « {exc.args[0]} » n'est pas lisible.",
                "Signalez-le au comptable public.", line=line_of(el), record=record)
            return
        for pay in el.iterfind(".//Paiement"):
            self.report.check("Paiement", self.retour, RETOUR_NS, pay, record)
        total = common["amount_paid_total"]
        summed = sum((p["amount_paid"] or Decimal(0) for p in payments), Decimal(0))
        if total is not None and payments and summed != total:
            self.report.add(
                "PES_PAYMENT_TOTAL_MISMATCH",
                f"La ligne annonce {euros(total)} payés (MtPayTot) mais ses paiements "
                f"totalisent {euros(summed)}.", "Signalez-le au comptable public.",
                line=line_of(el), record=record, element="MtPayTot")
        for pay_row in payments or [{}]:
            self.position += 1
            self.events.append({**common, "position": self.position,
                             "line": pay_row.pop("_line", line_of(el)), **pay_row})
        res.kept += 1

    def _payment(self, pay: etree._Element, record: str) -> dict[str, Any]:
        values = leaves(pay)
        return {"_line": line_of(pay), "payment_id": values.get("IdPay"),
                "payment_mode": values.get("ModeReg"), "payment_date": day(values.get("DtePay")),
                "amount_paid": money(values.get("MtPay"))}

    def finish(self) -> None:
        if self.result.pieces == 0 and self.result.state is None:
            self.result.state = "rejected"
            self.report.add("PES_EMPTY",
                            "Le PES Retour ne contient aucune pièce de dépense.",
                            "Vérifiez que c'est bien le retour des mandats (PES_DepenseRetour).")
