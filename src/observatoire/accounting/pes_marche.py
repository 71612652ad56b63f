"""PES V2 ``PES_Aller`` with ``PES_Marche``: contracts as the finance software knows them (those
below 40 k€ included), one FINANCE_CONTRACTS row per ``Marche``.

The shipped schemas (revision 2.1.a) predate ``PES_Marche``: the envelope and header are
validated, the contracts are read without a schema (said once per file). Each buyer keeps its
estimate and its notified share; each holder and direct-payment subcontractor keeps its
advance, guarantees and notified amount (the sum of its ``Ventilation…`` over buyers); the
breakdowns are checked against the contract's notified amount.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from lxml import etree

from observatoire.accounting.pes_common import (
    SIGNATURE,
    PesResult,
    Reporter,
    RowWriter,
    day,
    drop_previous,
    euros,
    integer,
    line_of,
    money,
    natural_person,
    note_signature,
    rate,
    siret,
    v,
)
from observatoire.accounting.pes_schema import REVISION, WRAPPER_NS, aller_schema

FLOW = "pes_marche"
SUBCONTRACT_SHARES = ("VentilationsAcheteurs/VentilationAcheteur/VentilationsTitulaire/"
                      "VentilationTitulaire/VentilationsSousTraitantPaiementDirect/"
                      "VentilationSousTraitantPaiementDirect")
TAGS = ("Enveloppe", "EnTetePES", "EnTeteMarche", "Marche", SIGNATURE)


class MarcheReader:
    def __init__(self, result: PesResult, report: Reporter, contracts: RowWriter) -> None:
        self.result, self.report, self.contracts = result, report, contracts
        self.buyer_id: str | None = None
        self.position = 0
        self.keys: set[tuple[str | None, str | None, str | None]] = set()
        self.schema = aller_schema()

    def where(self) -> str:
        return f"{self.result.records_in} marché(s)"

    def handle(self, el: etree._Element) -> None:
        tag = el.tag
        if tag == "Marche":
            self.marche(el)
            drop_previous(el)
        elif tag in ("Enveloppe", "EnTetePES"):
            if tag == "EnTetePES":
                self.buyer_id = v(el, "IdColl")
            self.report.check(tag, self.schema, WRAPPER_NS, el, None)
        elif tag == "EnTeteMarche":
            self.result.revision = v(el, "IdVer")
            self.report.add(
                "PES_SCHEMA_NEWER_REVISION",
                f"La partie PES_Marche (version {self.result.revision or '?'}) relève d'une "
                f"révision du PES plus récente que les schémas de référence ({REVISION}) : "
                "elle est lue sans validation par le schéma.",
                "Rien à faire ; les montants des marchés sont tout de même recoupés.",
                line=line_of(el), element="PES_Marche")
        elif tag == SIGNATURE:
            note_signature(self.result, self.report, el)
            el.clear()

    def marche(self, el: etree._Element) -> None:
        res = self.result
        res.records_in += 1
        self.position += 1
        ident = el.find("IdentifiantMarche")
        ref = v(ident, "IdContrat")
        record = f"marché {ref}"
        try:
            amount_ht = money(v(el, "MontantHTNotifie"))
            amount_tva = money(v(el, "MontantTVANotifie"))
            estimate_ht = money(v(el, "MontantHTEstime"))
            buyers = list(self._buyers(el))
            holders = self._holders(el)
        except ValueError as exc:
            res.set_aside += 1
            self.report.add(
                "PES_CONTRACT_SET_ASIDE",
                f"Marché mis de côté : le montant « {exc.args[0]} » n'est pas un montant "
                "lisible.", "Corrigez le marché dans le logiciel financier et renvoyez-le.",
                line=line_of(el), record=record)
            return
        if ref is None:
            res.set_aside += 1
            self.report.add(
                "PES_CONTRACT_SET_ASIDE",
                "Marché mis de côté : il n'a pas d'identifiant (IdContrat).",
                "Corrigez le marché dans le logiciel financier et renvoyez-le.",
                line=line_of(el), element="IdContrat")
            return
        key = (ref, v(ident, "SequenceEnvoi"), v(ident, "CaractereCorrectifEnregistrement"))
        if key in self.keys:
            res.duplicates += 1
            self.report.add(
                "PES_DUPLICATE_CONTRACT",
                f"Le marché {ref} (envoi n° {key[1]}) figure deux fois dans le fichier : le "
                "second est compté comme doublon.", "Vérifiez l'export du logiciel financier.",
                line=line_of(el), record=record)
            return
        self.keys.add(key)
        self._check_breakdown(el, amount_ht, buyers, record)
        titulaires = [h for h in holders if h["role"] == "titulaire"]
        advances = {h["advance_rate"] for h in titulaires}
        guarantees = {g["type"] for h in titulaires for g in h["guarantees"]}
        conditions = el.find("ConditionsExecution")
        self.contracts.append({
            "file_hash": self.result.file_hash,
            "position": self.position,
            "line": line_of(el),
            "flow": FLOW,
            "contract_ref": ref,
            "buyer_id": self.buyer_id,
            "send_sequence": integer(v(ident, "SequenceEnvoi")),
            "corrective": _flag(v(ident, "CaractereCorrectifEnregistrement")),
            "buyers": buyers,
            "nature": v(el, "NatureMarche"),
            "object": v(el, "Objet"),
            "cpv": v(el, "CodeCPV"),
            "procedure": v(el, "ProcedureMarche"),
            "place_code": v(el, "LieuExecution/CodeLieuExecution"),
            "place_type": v(el, "LieuExecution/TypeCode"),
            "place_name": v(el, "LieuExecution/NomLieuExecution"),
            "notification_date": day(v(el, "DateNotification")),
            "publication_date": day(v(el, "DatePublicationDonnees")),
            "duration_months": integer(v(el, "DureeEnMois")),
            "duration_max_months": integer(v(el, "DureeEnMoisMaximumPossible")),
            "amount_ht": amount_ht,
            "amount_tva": amount_tva,
            "amount_is_estimate": _flag(v(el, "CaractereEstimatifMontantNotifie")),
            "estimate_ht": estimate_ht,
            "price_form": v(el, "FormePrix"),
            "advance_rate": advances.pop() if len(advances) == 1 else None,
            "guarantee": guarantees.pop() if len(guarantees) == 1 else None,
            "framework_id": v(conditions, "IdAccordCadre"),
            "secondary_cpv": [c.get("V") for c in el.iterfind(
                "ConditionsExecution/CodesCPVSec/CodeCPVSec") if c.get("V")] or None,
            "offers_received": integer(v(conditions, "NbTotalPropositionsRecu")),
            "social_clause": _flag(v(conditions, "ClauseSociale")),
            "environmental_clause": _flag(v(conditions, "ClauseEnvironnementale")),
            "ccag": v(conditions, "CCAGReference"),
            "buyer_profile_url": v(el, "URLProfilAcheteur"),
            "holders": holders,
        })
        res.kept += 1
        res.tiers += len(holders)

    def _buyers(self, el: etree._Element) -> Iterable[dict[str, Any]]:
        shares = {v(s, "IdAcheteur"): s for s in el.iterfind(
            "VentilationsAcheteurs/VentilationAcheteur")}
        for buyer in el.iterfind("Acheteurs/Acheteur"):
            ident = v(buyer, "IdAcheteur")
            share = shares.get(ident)
            yield {"id": ident, "name": v(buyer, "NomAcheteur"),
                   "estimate_ht": money(v(buyer, "MontantHTEstime")),
                   "amount_ht": money(v(share, "MontantHTNotifie")),
                   "amount_tva": money(v(share, "MontantTVANotifie"))}

    def _holders(self, el: etree._Element) -> list[dict[str, Any]]:
        amounts: dict[tuple[str, str | None], Decimal] = {}
        for share in el.iterfind("VentilationsAcheteurs/VentilationAcheteur"):
            for h in share.iterfind("VentilationsTitulaire/VentilationTitulaire"):
                key = ("titulaire", v(h, "IdTitulaire"))
                amounts[key] = amounts.get(key, Decimal(0)) + (
                    money(v(h, "MontantHTNotifie")) or 0)
                for s in h.iterfind("VentilationsSousTraitantPaiementDirect/"
                                    "VentilationSousTraitantPaiementDirect"):
                    skey = ("sous_traitant_paiement_direct", v(s, "IdSousTraitant"))
                    amounts[skey] = amounts.get(skey, Decimal(0)) + (
                        money(v(s, "MontantHTNotifie")) or 0)
        out = []
        for role, tag, prefix in (("titulaire", "Titulaire", "Titulaire"),
                                  ("sous_traitant_paiement_direct",
                                   "SousTraitantPaiementDirect", "SousTraitant")):
            for h in el.iterfind(f"Operateurs/{tag}"):
                ident, id_type = v(h, f"Id{prefix}"), v(h, f"NatId{prefix}")
                first_name = v(h, "Prenom")
                category, legal = v(h, "CatTiers"), v(h, "NatJur")
                cond = h.find("ConditionsExecutionTitulaire")
                if cond is None:  # a subcontractor's conditions sit in its ventilation
                    cond = next((s.find("ConditionsExecutionSousTraitantPaiementDirect")
                                 for s in el.iterfind(SUBCONTRACT_SHARES)
                                 if v(s, "IdSousTraitant") == ident), None)
                name = " ".join(p for p in (v(h, "DenominationSociale"), v(h, "ComplNom"),
                                            first_name) if p)
                out.append({
                    "siret": siret(id_type, ident), "name": name or None,
                    "natural_person": natural_person(category, legal, first_name,
                                                     v(h, "Civilite")),
                    "role": role, "id": ident, "id_type": id_type,
                    "category": category, "legal_nature": legal,
                    "holder_type": v(h, "TypeTitulaireMarche"),
                    "advance_rate": rate(v(cond, "PourcentageAvance")),
                    "start_date": day(v(cond, "DateDebutExecution")),
                    "price_form": v(cond, "FormePrix"),
                    "amount_ht": amounts.get((role, ident)),
                    "guarantees": [_guarantee(g) for g in (
                        cond.iterfind("Garantie") if cond is not None else ())],
                })
        return out

    def _check_breakdown(self, el: etree._Element, amount_ht: Decimal | None,
                         buyers: list[dict[str, Any]], record: str) -> None:
        shares = [b["amount_ht"] for b in buyers if b["amount_ht"] is not None]
        if amount_ht is not None and shares and sum(shares) != amount_ht:
            self.report.add(
                "PES_CONTRACT_BREAKDOWN_MISMATCH",
                f"Le {record} est notifié pour {euros(amount_ht)} HT mais la ventilation par "
                f"acheteur totalise {euros(sum(shares, Decimal(0)))}.",
                "Vérifiez la ventilation dans le logiciel financier.",
                line=line_of(el), record=record, element="VentilationsAcheteurs")
        for share in el.iterfind("VentilationsAcheteurs/VentilationAcheteur"):
            buyer_amount = money(v(share, "MontantHTNotifie"))
            parts = [money(v(h, "MontantHTNotifie")) or Decimal(0)
                     for h in share.iterfind("VentilationsTitulaire/VentilationTitulaire")]
            if buyer_amount is not None and parts and sum(parts) != buyer_amount:
                self.report.add(
                    "PES_CONTRACT_BREAKDOWN_MISMATCH",
                    f"Le {record} : la part de l'acheteur {v(share, 'IdAcheteur')} est de "
                    f"{euros(buyer_amount)} HT mais la ventilation par titulaire totalise "
                    f"{euros(sum(parts, Decimal(0)))}.",
                    "Vérifiez la ventilation dans le logiciel financier.",
                    line=line_of(share), record=record, element="VentilationsTitulaire")

    def finish(self) -> None:
        if self.result.records_in == 0 and self.result.state is None:
            self.result.state = "rejected"
            self.report.add("PES_EMPTY", "Le PES Marché ne contient aucun marché.",
                            "Vérifiez l'export du logiciel financier.")


def _guarantee(g: etree._Element) -> dict[str, Any]:
    return {"type": v(g, "TypeGarantie"), "delay_months": integer(v(g, "DelaiGarantie")),
            "rate": rate(v(g, "TauxGarantie")), "amount": money(v(g, "MontantGarantie"))}


def _flag(text: str | None) -> bool | None:
    return None if text is None else text in ("1", "true")
