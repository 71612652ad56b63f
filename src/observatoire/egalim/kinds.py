"""The names, staging tables and import options of the two Egalim source kinds (purchase lines,
supplier matrices). Their connectors (:mod:`observatoire.connectors.egalim_purchases`,
:mod:`observatoire.connectors.supplier_matrices`) import them from here: the Egalim stage reads
its staging tables without depending on the connectors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from observatoire.connector import StagingTable

if TYPE_CHECKING:
    from observatoire.egalim.importer import CanteenDirectory
    from observatoire.egalim.labels import LabelMeaning
    from observatoire.egalim.mapping import ColumnMapping

KIND = "egalim"
#: Errors kept in the load log per file (the report given to the user has them all).
LOGGED_ERRORS = 500
STATUS = {"chargé": "loaded", "chargé partiellement": "partial", "rejeté": "rejected"}
LINES = StagingTable("egalim_purchase_lines", "1", KIND)

MATRIX_KIND = "egalim-matrice"
ROWS = StagingTable("egalim_matrix_rows", "1", MATRIX_KIND)


@dataclass(frozen=True)
class PurchaseOptions:
    canteens: CanteenDirectory
    mapping: ColumnMapping | None = None
    accept_partial: bool = False


@dataclass(frozen=True)
class MatrixOptions:
    supplier: str
    siret: str | None = None
    #: Label meanings people decided: read with that meaning, not reported as unknown.
    decided: dict[str, LabelMeaning] = field(default_factory=dict)
