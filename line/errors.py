"""Domain errors of ``line``: one base class, structured fields, no I/O.

Domain functions raise these; flows decide retry versus fail; the CLI turns them
into one clear line and an exit code.
"""

from __future__ import annotations


class CardlineError(Exception):
    """Base of every error cardline raises on purpose.

    Every subclass pickles, whatever its ``__init__`` looks like: errors cross process
    pools (faces render and chip data is signed in helper processes), and an exception that
    cannot be unpickled there breaks the whole pool instead of failing one card.
    """

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuild without calling the subclass's __init__ (its keyword-only arguments are
        # not in ``args``): the same class, the same args, the same attributes.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(
    cls: type[CardlineError], args: tuple[object, ...], state: dict[str, object]
) -> CardlineError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class SpecError(CardlineError):
    """A line spec that cannot be used; ``field`` is the dotted path of the culprit."""

    def __init__(self, message: str, *, field: str, source: str | None = None) -> None:
        where = f"{source}: " if source else ""
        super().__init__(f"line spec {where}{field}: {message}", field=field, source=source)
        self.field = field
        self.source = source


class IllegalTransition(CardlineError):
    """A state change the lifecycle does not allow."""

    def __init__(
        self, kind: str, current: str | None, target: str, *, entity_id: object = None
    ) -> None:
        what = f"{kind} {entity_id}" if entity_id is not None else kind
        super().__init__(
            f"{what}: illegal transition {current or '(new)'} -> {target}",
            kind=kind,
            current=current,
            target=target,
            entity_id=entity_id,
        )
        self.kind = kind
        self.current = current
        self.target = target


class NotFound(CardlineError):
    """A record asked for by id does not exist."""


class LiveCardExists(CardlineError):
    """An application already has a live card; a second one cannot be started."""


class UnknownReason(CardlineError):
    """A reason code that is not in the catalogue (``line.reasons``), or not one allowed
    where it was given; ``allowed`` lists the codes that are."""

    def __init__(
        self, message: str, *, code: str | None, field: str, allowed: tuple[str, ...]
    ) -> None:
        super().__init__(message, code=code, field=field, allowed=allowed)
        self.code = code
        self.field = field
        self.allowed = allowed


class IntakeFileError(CardlineError):
    """An intake file that cannot be read at all; nothing has been written."""


class SchemaError(CardlineError):
    """The database schema is missing or not at the revision this code expects."""


class DeviceError(CardlineError):
    """A device could not do its work. ``reason_code`` is what the stage event records;
    ``card_serial`` is set when one card is the one affected (and spoiled)."""

    def __init__(
        self,
        message: str,
        *,
        device: str,
        reason_code: str,
        card_serial: str | None = None,
        **fields: object,
    ) -> None:
        super().__init__(
            message, device=device, reason_code=reason_code, card_serial=card_serial, **fields
        )
        self.device = device
        self.reason_code = reason_code
        self.card_serial = card_serial
