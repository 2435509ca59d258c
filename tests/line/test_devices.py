"""The device ports' defaults: what a device with nothing to do for an optional call does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from line.devices import ChipStock, PrinterStopped, PrintJob, SpoiledCard
from line.errors import DeviceError
from tests.conftest import TODAY


class ChipsOnly(ChipStock):
    """A stock that tracks chips and no consumables."""

    def reserve(
        self, *, session: Session, application_ids: Sequence[int], at: datetime
    ) -> set[int]:
        return set(application_ids)

    def consume(
        self, *, session: Session, application_id: int, card_serial: str, at: datetime
    ) -> tuple[str, str]:
        return "L1", "04AA"

    def spoil(self, *, session: Session, card_serial: str, reason: str, at: datetime) -> None:
        return None


def test_a_stock_without_consumables_has_nothing_tracked_and_nothing_missing() -> None:
    stock = ChipsOnly()
    session = Session()
    at = datetime(TODAY.year, TODAY.month, TODAY.day)
    assert stock.supplies_left(session=session) == {}
    assert stock.use_supplies(session=session, at=at) == {}


def test_a_print_job_names_every_card_it_handled_and_a_stopped_printer_carries_its_part() -> None:
    job = PrintJob(None, (), (SpoiledCard("C1", "print.jam"),))
    assert job.serials == ["C1"] and job.spoiled[0].reason_code == "print.jam"
    fault = PrinterStopped("ribbon out", device="print-01", reason_code="print.ribbon_out")
    assert isinstance(fault, DeviceError) and fault.job is None
