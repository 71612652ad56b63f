"""Chorus Pro flows: invoices in the « format pivot » and the invoice status flux.

- ``CPPFacturePivot`` → ``invoices`` (supplier and debtor identifiers, service code, issue and
  reception dates, amounts, contract and commitment numbers) and, from each invoice's
  validation cycle, ``invoice_statuses``.
- ``CPPStatut`` → ``invoice_statuses``: one row per status message, with what it means for a
  payment-delay computation (``reception``, ``service_fait``).

Both are read by streaming (lxml ``iterparse``), one invoice at a time; a file that breaks
midway keeps what was read before the break and says where. Amounts are rounded to the cent
(the pivot writes six decimals).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from lxml import etree

from observatoire.accounting import staging
from observatoire.accounting.cells import CellError, parse_amount, parse_date, siret_or_none
from observatoire.accounting.result import (
    BatchSink,
    Finding,
    ReadResult,
    TableBuilder,
    file_sha256,
)
from observatoire.errors import InputFileError

FORMATS = {
    "CPPFacturePivot": ("chorus-pro-pivot", "Chorus Pro, factures au format pivot"),
    "CPPStatut": ("chorus-pro-statut", "Chorus Pro, flux des statuts de factures"),
}
#: Status codes and what they mean for payment delays (codes as the flows write them: 01
#: « Déposée » is the invoice's arrival on Chorus Pro, the start of the délai global de
#: paiement; 07 « Service fait »).
EVENTS = {"01": "reception", "07": "service_fait"}
#: Chorus Pro identifier types: 1 is a SIRET, 7 a private person (never published by name).
SIRET_TYPE = "1"
PRIVATE_PERSON_TYPE = "7"
_ISO = ("%Y-%m-%d",)
#: Like the DECP reader: no entity expansion, no network; big files allowed.
SAFE: dict[str, Any] = {"resolve_entities": False, "no_network": True, "huge_tree": True}


def detect_chorus_pro(path: Path) -> tuple[str, str] | None:
    """(format, label) of a Chorus Pro file from its root element, or None."""
    try:
        with path.open("rb") as fh:
            for _event, element in etree.iterparse(fh, events=("start",), **SAFE):
                return FORMATS.get(etree.QName(element).localname)
    except (etree.XMLSyntaxError, OSError):
        return None
    return None


def read_chorus_pro(path: Path, sink: BatchSink | None = None) -> ReadResult:
    """Read a Chorus Pro pivot or status file into staging tables, with findings and counts
    (with ``sink``, the rows go to it batch by batch instead of into ``result.tables``)."""
    detected = detect_chorus_pro(path)
    if detected is None:
        raise InputFileError(
            "Ce fichier n'est pas un flux Chorus Pro : l'élément racine attendu est "
            "<CPPFacturePivot> (factures) ou <CPPStatut> (statuts).",
            where=str(path),
            hint="Déposez le flux tel que Chorus Pro le transmet (format pivot ou flux de "
            "statuts), en XML.",
        )
    fmt, label = detected
    reader = _Reader(path, ReadResult(path, file_sha256(path), fmt, label), sink)
    return reader.read()


def _text(element: Any, path: str) -> str | None:
    found = element.find(path)
    if found is None or found.text is None:
        return None
    text = str(found.text).strip()
    return text or None


class _Reader:
    def __init__(self, path: Path, result: ReadResult, sink: BatchSink | None) -> None:
        self.path = path
        self.result = result
        self.invoices = TableBuilder("invoices", staging.INVOICES, sink)
        self.statuses = TableBuilder("invoice_statuses", staging.INVOICE_STATUSES, sink)

    def finding(self, code: str, severity: str, message: str, hint: str, line: int | None,
                column: str | None = None, raw: str | None = None) -> None:
        where = str(self.path) if line is None else f"{self.path}, ligne {line}"
        if column:
            where += f", élément <{column}>"
        self.result.findings.append(
            Finding(code, severity, message, where, hint, line, column, raw)
        )

    def read(self) -> ReadResult:
        pivot = self.result.format == "chorus-pro-pivot"
        unit = "CPPFacturePivotUnitaire" if pivot else "CPPFactureStatutUnitaire"
        announced: str | None = None
        try:
            with self.path.open("rb") as fh:
                for _event, element in etree.iterparse(fh, events=("end",), **SAFE):
                    name = etree.QName(element).localname
                    if name in ("CPPFactures", "CPPFactureStatuts"):
                        announced = element.get("Compteur") or element.get("compteur")
                    if name != unit:
                        continue
                    self.result.records_in += 1
                    position = self.result.records_in
                    kept = self._invoice(element, position) if pivot else self._status(
                        element, position
                    )
                    if kept:
                        self.result.kept += 1
                    else:
                        self.result.set_aside += 1
                    # Streaming: what was read is dropped, siblings included.
                    element.clear(keep_tail=True)
                    parent = element.getparent()
                    while parent is not None and element.getprevious() is not None:
                        del parent[0]
        except etree.XMLSyntaxError as exc:
            line = exc.lineno if exc.lineno else None
            self.finding(
                "CHORUS_PRO_XML_INVALID",
                "bloquant",
                f"XML invalide ou tronqué après la facture n° {self.result.records_in} "
                f"({exc.msg}).",
                "Les factures complètes lues avant l'erreur sont gardées ; demandez le flux "
                "complet et déposez-le à nouveau.",
                line,
            )
        if not self.result.records_in and not self.result.findings:
            self.finding("CHORUS_PRO_EMPTY", "avertissement",
                         "Le flux ne contient aucune facture ni aucun statut.",
                         "Vérifiez le flux reçu de Chorus Pro.", None)
        if announced is not None and announced.isdigit() and int(announced) != (
            self.result.records_in
        ):
            self.finding(
                "CHORUS_PRO_COUNT_MISMATCH",
                "avertissement",
                f"Le flux annonce {announced} élément(s) mais en contient "
                f"{self.result.records_in}.",
                "Vérifiez que le flux est complet.",
                None,
            )
        if pivot:
            self.invoices.finish(self.result)
        self.statuses.finish(self.result)
        return self.result

    def _provenance(self, element: Any, position: int) -> dict[str, Any]:
        return {"file_hash": self.result.file_hash, "position": position,
                "line": element.sourceline, "flow": "chorus_pro"}

    def _party(self, element: Any, who: str) -> tuple[str | None, bool | None]:
        """The SIRET of a party when its identifier is one, and whether it is a person."""
        kind = _text(element, f"{who}/TypeIdentifiant")
        ident = _text(element, f"{who}/Identifiant")
        person = None if kind is None else kind == PRIVATE_PERSON_TYPE
        if ident is None:
            return None, person
        siret = siret_or_none(ident) if kind in (SIRET_TYPE, None) else None
        if siret is None and kind in (SIRET_TYPE, None):
            self.finding(
                "CHORUS_PRO_ID_NOT_SIRET",
                "avertissement",
                f"Identifiant « {ident} » ({who}) déclaré SIRET mais qui n'a pas 14 chiffres.",
                "Vérifiez l'identifiant dans Chorus Pro.",
                element.sourceline,
                f"{who}/Identifiant",
                ident,
            )
        return siret, person

    def _date(self, element: Any, path: str) -> dt.date | None:
        text = _text(element, path)
        if text is None:
            return None
        try:
            return parse_date(text, _ISO)
        except CellError as exc:
            self.finding("CHORUS_PRO_VALUE_UNREADABLE", "avertissement",
                         f"Valeur « {text} » illisible : {exc.expected} était attendu(e) ; "
                         "elle reste vide.", "Vérifiez le flux.", element.sourceline, path, text)
            return None

    def _amount(self, element: Any, path: str) -> Any:
        text = _text(element, path)
        if text is None:
            return None
        try:
            return parse_amount(text, ".")
        except CellError as exc:
            self.finding("CHORUS_PRO_VALUE_UNREADABLE", "avertissement",
                         f"Valeur « {text} » illisible : {exc.expected} était attendu(e) ; "
                         "elle reste vide.", "Vérifiez le flux.", element.sourceline, path, text)
            return None

    def _invoice(self, element: Any, position: int) -> bool:
        number = _text(element, "DonneesFacture/Id")
        if number is None:
            self.finding(
                "CHORUS_PRO_NUMBER_MISSING",
                "bloquant",
                f"Facture n° {position} du flux écartée : sans numéro (<DonneesFacture><Id>).",
                "Demandez à l'émetteur du flux de le compléter.",
                element.sourceline,
                "DonneesFacture/Id",
            )
            return False
        supplier, person = self._party(element, "Fournisseur")
        buyer, _ = self._party(element, "Debiteur")
        cycle = element.findall("DonneesFacture/CycleDeValidation/ValidationUnitaire")
        cycle = cycle or element.findall("CycleDeValidation/ValidationUnitaire")
        issue_date = self._date(element, "DonneesFacture/DateEmissionFacture")
        last_code = last_label = None
        service_done = None
        for step in cycle:
            code = _text(step, "CodeStatut")
            label = _text(step, "ComplementStatut")
            day = self._date(step, "DateStatut")
            last_code, last_label = code, label
            if code is not None and EVENTS.get(code) == "service_fait":
                service_done = day
            self.statuses.append(self._provenance(step, position) | {
                "invoice_number": number,
                "invoice_date": issue_date,
                "supplier_siret": supplier,
                "supplier_name": None if person else _text(element, "Fournisseur/RaisonSociale"),
                "buyer_id": buyer,
                "status_code": code,
                "status_label": label,
                "event": EVENTS.get(code or ""),
                "event_date": day,
            })
        status = " ".join(p for p in (last_code, last_label) if p) or None
        self.invoices.append(self._provenance(element, position) | {
            "invoice_number": number,
            "supplier_siret": supplier,
            # A private person's name is not kept: it would end up published.
            "supplier_name": None if person else _text(element, "Fournisseur/RaisonSociale"),
            "supplier_natural_person": person,
            "buyer_id": buyer,
            "service_code": _text(element, "Debiteur/CodeService"),
            "issue_date": issue_date,
            "received_date": self._date(element, "DonneesFacture/DateReception"),
            "service_done_date": service_done,
            "status": status,
            "amount_ht": self._amount(element, "DonneesFacture/Montants/MontantHT"),
            "amount_ttc": self._amount(element, "DonneesFacture/Montants/MontantTTC"),
            "contract_ref": _text(element, "DonneesFacture/Engagement/NumeroMarche"),
            "commitment_ref": _text(element, "DonneesFacture/Engagement/NumeroEngagement"),
            "invoice_type": _text(element, "DonneesFacture/Type"),
        })
        return True

    def _status(self, element: Any, position: int) -> bool:
        number = _text(element, "DonneesStatut/IdFacture")
        code = _text(element, "DonneesStatut/IdStatut")
        if number is None or code is None:
            missing = "IdFacture" if number is None else "IdStatut"
            self.finding(
                "CHORUS_PRO_STATUS_INCOMPLETE",
                "bloquant",
                f"Statut n° {position} du flux écarté : sans <{missing}>, il ne dit rien "
                "d'utilisable.",
                "Demandez à l'émetteur du flux de le compléter.",
                element.sourceline,
                f"DonneesStatut/{missing}",
            )
            return False
        supplier, person = self._party(element, "Fournisseur")
        buyer, _ = self._party(element, "Debiteur")
        stamp = _text(element, "DonneesStatut/Horodatage")
        self.statuses.append(self._provenance(element, position) | {
            "invoice_number": number,
            "invoice_date": self._date(element, "DonneesStatut/DateFacture"),
            "supplier_siret": supplier,
            "supplier_name": None if person else _text(element, "Fournisseur/RaisonSociale"),
            "buyer_id": buyer,
            "status_code": code,
            "status_label": _text(element, "DonneesStatut/ComplementStatut"),
            "event": EVENTS.get(code),
            "event_date": self._date(element, "DonneesStatut/Horodatage") if stamp else None,
            "event_at": stamp,
            "comment": _text(element, "DonneesStatut/Commentaire"),
        })
        return True
