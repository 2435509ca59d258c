"""Retention: a citizen's personal data is kept only as long as the centre needs it.

An application is **purgeable** when it is delivered, its card was delivered (the station's
confirmation, ``dispatch_batch.delivered_at``) before the cut-off, and it is not purged yet.
A returned card puts its application back on the line (or on hold), so a returned or held
application is never delivered and never purged; an application whose returned card was
remade and delivered again counts from that last delivery.

What :func:`purge` removes from the database: the names and addresses (``full_name``,
``place_of_origin``, ``place_of_residence``: emptied), the old ID number, the photo's path
and hash (emptied), and the ID number, replaced by its masked form (``********6789``, the
same 12 characters; the unique index covers live applications only, so two purged rows may
share a masked form). What it keeps: the row itself with its masked ID, state, destination
and dates, every card (serial, chip UID, lot, batch), every stage event and stock movement,
and the audit record: reconcile, ``cardline check``, the KPIs and the simulator's
calibration read those only. Date of birth, sex and nationality stay (the columns are not
nullable, and without the name, ID and address they no longer point at a person).

Files (:class:`FilePlan`): each card's chip read-back ``cards/<serial>.chip`` and virtual
chip image ``chips/<serial>.vchip.json``; the photo when it is the centre's copy (under the
home) and no application still holding personal data uses it (a photo outside the home is
the intake source's, left where it is, and counted); each print batch PDF of the purged
cards: removed when every card in it belongs to a purged application, else the purged
cards' pages are blanked (the other cards keep their page numbers) and the file goes with
the purge of its last card.

The database change is one transaction with an audit row ``purge`` (the cut-off, the counts
and the card serials: no personal data); files are touched only after it commits. The plan
is written first (``pending``, owner-only) under a token, the audit row's subject: a purge that
died between the commit and the files is finished by the next one, and a plan whose
transaction never committed is dropped.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from line import audit
from line.errors import CardlineError
from line.files import private_dir, write_private
from line.idnumber import mask_id
from line.models import Application, Card, DispatchBatch
from line.types import ApplicationState, CardState, Stage


class PersonalDataPurged(CardlineError):
    """An action that needs the citizen's data, on an application whose data was purged."""


KEPT_REASONS: dict[str, str] = {
    "returned": "a card came back from the station and is being remade",
    "held": "waiting for a manager",
    "newer": "delivered on or after the cut-off",
}
"""Why a card's personal data is kept, with what it means."""

PENDING_FILE = "purge-pending.json"


@dataclass(frozen=True, slots=True)
class PurgedApplication:
    """One application purged (or to be purged, in a dry run): nothing personal."""

    application_id: int
    id_number_masked: str
    delivered_at: datetime
    serials: tuple[str, ...]


@dataclass(slots=True)
class FilePlan:
    """The files a purge removes or rewrites, once its transaction committed."""

    remove: list[Path] = field(default_factory=list)
    blank: dict[Path, list[int]] = field(default_factory=dict)  # batch PDF -> page indexes
    photos_outside_home: int = 0  # intake sources' photos, not the centre's to remove
    batches_kept: int = 0  # batch PDFs still holding cards of unpurged applications

    def to_json(self) -> dict[str, Any]:
        return {
            "remove": [str(p) for p in self.remove],
            "blank": {str(p): pages for p, pages in self.blank.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FilePlan:
        return cls(
            remove=[Path(p) for p in data.get("remove", [])],
            blank={Path(p): [int(i) for i in pages] for p, pages in data.get("blank", {}).items()},
        )


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What a purge did (or, ``dry_run``, would do)."""

    cutoff: datetime
    purged: tuple[PurgedApplication, ...]
    kept: dict[str, int]
    files: FilePlan
    token: str
    dry_run: bool

    @property
    def serials(self) -> list[str]:
        return [serial for p in self.purged for serial in p.serials]


@dataclass(frozen=True, slots=True)
class Home:
    """Where a home keeps the files a purge looks at (``line.settings.Settings``' paths)."""

    root: Path
    cards_dir: Path
    chips_dir: Path

    @property
    def pending(self) -> Path:
        return self.root / PENDING_FILE


def purgeable(*, session: Session, cutoff: datetime) -> list[tuple[Application, datetime]]:
    """Delivered, unpurged applications whose delivered card reached the station before
    ``cutoff``, with that delivery time, oldest application first."""
    rows = session.exec(
        select(Application, DispatchBatch.delivered_at)
        .join(Card, col(Card.application_id) == Application.id)
        .join(DispatchBatch, col(DispatchBatch.id) == Card.dispatch_batch_id)
        .where(
            Application.state == ApplicationState.DELIVERED,
            col(Application.purged_at).is_(None),
            Card.state == CardState.DELIVERED,
            col(DispatchBatch.delivered_at) < cutoff,
        )
        .order_by(col(Application.id))
    ).all()
    return [(application, at) for application, at in rows if at is not None]


def kept(*, session: Session, cutoff: datetime) -> dict[str, int]:
    """How many applications keep their personal data, by reason (:data:`KEPT_REASONS`):
    those with a returned card not yet delivered again, the others held, and the delivered
    ones whose delivery is on or after ``cutoff``. Applications still on the line for the
    first time are not counted: nothing of theirs was ever up for purging."""
    unpurged = col(Application.purged_at).is_(None)
    returned_ids = (
        select(Card.application_id)
        .where(Card.state == CardState.SPOILED, Card.spoiled_at_stage == Stage.DELIVERY.value)
        .distinct()
    )
    not_delivered = col(Application.state).not_in(
        [ApplicationState.DELIVERED, ApplicationState.CANCELLED]
    )
    returned = _count(session, unpurged, not_delivered, col(Application.id).in_(returned_ids))
    held = _count(
        session,
        unpurged,
        Application.state == ApplicationState.HELD,
        col(Application.id).not_in(returned_ids),
    )
    newer = session.exec(
        select(sa.func.count(sa.distinct(col(Application.id))))
        .select_from(Application)
        .join(Card, col(Card.application_id) == Application.id)
        .join(DispatchBatch, col(DispatchBatch.id) == Card.dispatch_batch_id)
        .where(
            unpurged,
            Application.state == ApplicationState.DELIVERED,
            Card.state == CardState.DELIVERED,
            col(DispatchBatch.delivered_at) >= cutoff,
        )
    ).one()
    return {"returned": returned, "held": held, "newer": int(newer)}


def _count(session: Session, *conditions: Any) -> int:
    query = select(sa.func.count()).select_from(Application).where(*conditions)
    return int(session.exec(query).one())


def plan_files(
    *, session: Session, home: Home, applications: Sequence[Application], purged_ids: set[int]
) -> FilePlan:
    """The files of ``applications`` (about to be purged; ``purged_ids`` their ids) to
    remove or blank; read before their rows change. Queries go by chunks of ids and paths
    (a day's purge may hold more than a database takes in one ``IN``)."""
    plan = FilePlan()
    cards = [
        card
        for chunk in _chunks(sorted(purged_ids))
        for card in session.exec(select(Card).where(col(Card.application_id).in_(chunk)))
    ]
    for card in cards:
        plan.remove.append(home.cards_dir / f"{card.serial}.chip")
        plan.remove.append(home.chips_dir / f"{card.serial}.vchip.json")
    root = home.root.resolve()
    ours = []
    for photo in sorted({a.photo_path for a in applications if a.photo_path}):
        if Path(photo).resolve().is_relative_to(root):
            ours.append(photo)
        else:
            plan.photos_outside_home += 1
    in_use = _photos_in_use(session, ours, purged_ids)
    plan.remove.extend(Path(photo) for photo in ours if photo not in in_use)
    batches: dict[str, list[Card]] = {}
    for chunk in _chunks(sorted({c.print_pdf for c in cards if c.print_pdf})):
        for card in session.exec(select(Card).where(col(Card.print_pdf).in_(chunk))):
            batches.setdefault(card.print_pdf or "", []).append(card)
    others = {c.application_id for batch in batches.values() for c in batch} - purged_ids
    unpurged = _unpurged(session, others)
    for pdf, in_batch in sorted(batches.items()):
        if not any(c.application_id in unpurged for c in in_batch):
            plan.remove.append(Path(pdf))
            continue
        plan.batches_kept += 1
        pages = sorted(
            page
            for c in in_batch
            if c.application_id in purged_ids
            for page in (c.front_page, c.back_page)
            if page is not None
        )
        if pages:
            plan.blank[Path(pdf)] = pages
    return plan


CHUNK = 500
"""Ids or paths per ``IN`` list: SQLite takes at most 32,766 parameters in a statement."""


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    size = CHUNK  # read at the call: a test makes it small
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _photos_in_use(session: Session, photos: Sequence[str], purged_ids: set[int]) -> set[str]:
    """The ``photos`` that an application other than ``purged_ids``, not purged before,
    still uses."""
    used: set[str] = set()
    for chunk in _chunks(photos):
        rows = session.exec(
            select(Application.id, Application.photo_path).where(
                col(Application.photo_path).in_(chunk), col(Application.purged_at).is_(None)
            )
        ).all()
        used.update(path for application_id, path in rows if application_id not in purged_ids)
    return used


def _unpurged(session: Session, ids: set[int]) -> set[int]:
    """Those of ``ids`` whose application still holds personal data."""
    found: set[int] = set()
    for chunk in _chunks(sorted(ids)):
        found.update(
            application_id
            for application_id in session.exec(
                select(Application.id).where(
                    col(Application.id).in_(chunk), col(Application.purged_at).is_(None)
                )
            )
            if application_id is not None
        )
    return found


def purge(
    *,
    session: Session,
    home: Home,
    cutoff: datetime,
    actor: str,
    at: datetime,
    dry_run: bool = False,
) -> PurgeResult:
    """Remove the personal data of every purgeable application (see the module) in
    ``session`` and record it (not committed: the caller's transaction). The files are
    planned, and the plan written to ``home.pending`` under the result's token unless
    ``dry_run``; :func:`apply_files` acts on it after the commit."""
    chosen = purgeable(session=session, cutoff=cutoff)
    applications = [application for application, _ in chosen]
    purged_ids = {a.id for a in applications if a.id is not None}
    plan = plan_files(session=session, home=home, applications=applications, purged_ids=purged_ids)
    serials = _serials(session, purged_ids)
    purged = tuple(
        PurgedApplication(
            application_id=application.id or 0,
            id_number_masked=mask_id(application.id_number),
            delivered_at=delivered_at,
            serials=tuple(serials.get(application.id or 0, ())),
        )
        for application, delivered_at in chosen
    )
    counts = kept(session=session, cutoff=cutoff)
    token = secrets.token_hex(8)
    result = PurgeResult(cutoff, purged, counts, plan, token, dry_run)
    if dry_run or not purged:
        return result
    for application in applications:
        _strip(application, at)
        session.add(application)
    session.flush()
    audit.record(
        session=session,
        kind="purge",
        actor=actor,
        at=at,
        subject=token,
        detail={
            "token": token,
            "cutoff": cutoff.isoformat(),
            "applications": len(purged),
            "cards": len(result.serials),
            "files": len(plan.remove),
            "batches_blanked": len(plan.blank),
            "kept": counts,
            "serials": result.serials,
        },
    )
    private_dir(home.root)
    write_private(home.pending, json.dumps({"token": token, **plan.to_json()}))
    return result


def _strip(application: Application, at: datetime) -> None:
    application.id_number = mask_id(application.id_number)
    application.full_name = ""
    application.place_of_origin = ""
    application.place_of_residence = ""
    application.old_id_number = None
    application.photo_path = ""
    application.photo_sha256 = ""
    application.purged_at = at
    application.updated_at = at


def _serials(session: Session, ids: set[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if not ids:
        return found
    for chunk in _chunks(sorted(ids)):
        rows = session.exec(
            select(Card.application_id, Card.serial)
            .where(col(Card.application_id).in_(chunk))
            .order_by(col(Card.id))
        ).all()
        for application_id, serial in rows:
            found.setdefault(application_id, []).append(serial)
    return found


def pending_plan(*, session: Session, home: Home) -> FilePlan | None:
    """The file plan a committed purge left behind (its process died before the files were
    done), or None; a plan whose purge never committed is dropped here."""
    try:
        data = json.loads(home.pending.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        home.pending.unlink(missing_ok=True)  # half-written: its purge did not commit
        return None
    token = data.get("token")
    if not isinstance(token, str) or not audit.events(session=session, kind="purge", subject=token):
        home.pending.unlink(missing_ok=True)
        return None
    return FilePlan.from_json(data)
