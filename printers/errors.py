"""The one base of every error ``printers`` raises on purpose: ``PrintersError``, itself a
``line.errors.CardlineError`` (so it pickles across the render and signing process pools,
and the CLI and the flows treat it as any domain error).

A device fault is also a ``line.errors.DeviceError`` (the controller records its
``reason_code`` and spoils the card it names): such classes derive from both bases,
``PrintersError`` first.
"""

from __future__ import annotations

from line.errors import CardlineError


class PrintersError(CardlineError):
    """Base of every error the personalisation devices, the chip code and the face code
    raise on purpose."""


__all__ = ["PrintersError"]
