"""The errors of ``inventory``: one base, :class:`InventoryError`, under ``CardlineError``.

Every module of the package raises these and imports them from here, so no module needs
another one for its errors alone (``orders`` and the receipts used to import each other).
"""

from __future__ import annotations

from line.errors import CardlineError


class InventoryError(CardlineError):
    """Base of every error the stock books raise on purpose."""


class StockError(InventoryError):
    """Stock input or state that cannot be accepted; ``field`` names the culprit."""

    def __init__(self, message: str, *, field: str, reason_code: str) -> None:
        super().__init__(f"{field}: {message}", field=field, reason_code=reason_code)
        self.field = field
        self.reason_code = reason_code
