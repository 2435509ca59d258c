"""The catalogue of reason codes: every code a device, the line, a returned card or a manager
can produce is in it, with the right stage, and a code that is not is refused with the list."""

from __future__ import annotations

import ast
import importlib
import itertools
import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import Engine
from sqlmodel import select

from line import reasons
from line.db import session_scope
from line.errors import SpecError, UnknownReason
from line.models import StageEvent
from line.operations import finish_stage, release_held, start_print
from line.reasons import REASONS, RETURN_REASONS, Kind, find, require
from line.routing import Action, next_stage
from line.spec import default_spec, default_spec_text, parse_spec
from line.types import LINE_ORDER, Outcome, Stage
from tests.conftest import TODAY
from tests.factories import add_application, card_for
from tests.line.helpers import at

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("printers", "line", "flows", "inventory")
CODE = re.compile(r"(print|encode|qc|dispatch|delivery|manager)\.[A-Za-z0-9_.]+")
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "msg"}
ANY = "\x00"  # a value only known at run time


def chip_error_classes() -> list[type]:
    for module in ("apdu", "transport", "vchip", "personalise", "bodies", "encoder"):
        importlib.import_module(f"printers.chip.{module}")
    from printers.chip.apdu import ChipError

    found, pending = [], [ChipError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_chip_error_is_a_code_of_encoding_and_of_qc_reading_it_back() -> None:
    classes = chip_error_classes()
    assert len(classes) > 20
    for cls in classes:
        code = cls.reason  # type: ignore[attr-defined]
        encode = require(code, stage=Stage.ENCODE, kinds=[Kind.SPOIL])
        assert encode.spoils and code.startswith("encode.")
        # printers.qc reports a chip error of the read-back as qc.chip.<its last part>
        qc = require(f"qc.chip.{code.rpartition('.')[2]}", stage=Stage.QC)
        assert qc.spoils


def _mrz_problems(lines: tuple[str, str, str]) -> set[str]:
    from printers.mrz import validate_td1

    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<a-"
    found: set[str] = set()
    for row, position, char in itertools.product(range(3), range(30), alphabet):
        changed = list(lines)
        changed[row] = changed[row][:position] + char + changed[row][position + 1 :]
        found.update(p.reason_code for p in validate_td1(changed))
    for broken in (list(lines[:2]), [lines[0], lines[1][:29], lines[2]]):
        found.update(p.reason_code for p in validate_td1(broken))
    return found


def test_every_mrz_problem_qc_can_report_is_in_the_catalogue() -> None:
    from printers.mrz import mrz_lines

    specimen = (
        "I<UTOD231458907<<<<<<<<<<<<<<<",
        "7408122F1204159UTO<<<<<<<<<<<6",
        "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
    )
    found = _mrz_problems(mrz_lines(card_for(1))) | _mrz_problems(specimen)
    assert {"mrz.check_digit.id_number", "mrz.composite", "mrz.length"} <= found
    for code in found:  # printers.qc reports each as qc.<code>
        assert require(f"qc.{code}", stage=Stage.QC, kinds=[Kind.SPOIL])


def _is_log_call(node: ast.Call) -> bool:
    return isinstance(node.func, ast.Attribute) and node.func.attr in LOG_METHODS


def _render(node: ast.JoinedStr, constants: dict[str, str]) -> str:
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value))
        elif isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name):
            parts.append(constants.get(value.value.id, ANY))
        else:
            parts.append(ANY)
    return "".join(parts)


def codes_in_source() -> dict[str, str]:
    """Every reason-code-shaped string of cardline's packages (f-strings rendered with the
    module's constants, ``ANY`` for values known at run time), but log event names."""
    found: dict[str, str] = {}
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts or path.name == "reasons.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constants = {
                target.id: node.value.value
                for node in tree.body
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                for target in node.targets
                if isinstance(target, ast.Name) and isinstance(node.value.value, str)
            }
            skipped = {
                id(call.args[0])
                for call in ast.walk(tree)
                if isinstance(call, ast.Call) and _is_log_call(call) and call.args
            } | {
                id(part)
                for joined in ast.walk(tree)
                if isinstance(joined, ast.JoinedStr)
                for part in joined.values
            }
            for node in ast.walk(tree):
                if id(node) in skipped:
                    continue
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    text = node.value
                elif isinstance(node, ast.JoinedStr):
                    text = _render(node, constants)
                else:
                    continue
                if text.endswith((".", "_")):
                    continue  # a prefix of codes (``startswith("encode.photo_")``)
                if CODE.fullmatch(text.split(ANY)[0]) or (ANY in text and text.startswith("qc.")):
                    found[text] = f"{path.relative_to(ROOT)}:{node.lineno}"
    return found


def test_every_code_the_source_can_produce_is_in_the_catalogue() -> None:
    found = codes_in_source()
    # The scan sees the codes of every kind of device and of the line itself.
    for expected in (
        "print.jam",
        "print.ribbon_out",
        "qc.sod.signature",
        "qc.face.qr",
        "qc.reject",
    ):
        assert expected in found, expected
    missing = []
    for text, where in sorted(found.items()):
        if ANY not in text:
            if find(text) is None:
                missing.append(f"{text} ({where})")
            continue
        head, _, tail = text.partition(ANY)
        if head in ("qc.chip.", "qc."):
            continue  # chip errors and MRZ problems: enumerated by the tests above
        samples = [head + n + tail.replace(ANY, "") for n in ("1", "2", "13", "16")]
        if not all(find(sample) for sample in samples):
            missing.append(f"{text.replace(ANY, '{...}')} ({where})")
    assert missing == [], "reason codes the catalogue (line/reasons.py) lacks"


def test_every_photo_problem_is_a_data_fault_of_print_and_of_encoding() -> None:
    from line.portrait import CODES, PortraitProblem

    assert set(CODES) == set(reasons.PHOTO)
    prefixes = {"print": Stage.PRINT, "encode": Stage.ENCODE}
    for code, (prefix, stage) in itertools.product(CODES, prefixes.items()):
        reason_code = PortraitProblem(code, "why", prefix).reason_code
        assert require(reason_code, stage=stage).kind is Kind.DATA, reason_code


def test_the_codes_the_other_engineers_added_for_bad_data_are_data_faults() -> None:
    for code in (
        "print.photo_unreadable",
        "print.photo_changed",
        "print.photo_too_large",
        "print.data_invalid",
        "encode.data_invalid",
    ):
        assert REASONS[code].holds and REASONS[code].spoils
    assert REASONS["print.supplies_out"].kind is Kind.FAULT
    assert not REASONS["print.supplies_out"].spoils


def test_the_routing_holds_at_once_exactly_the_data_faults_of_the_catalogue() -> None:
    for code, reason in REASONS.items():
        if reason.stage.value not in {s.value for s in LINE_ORDER} or not reason.spoils:
            continue
        stage = Stage(reason.stage.value)
        route = next_stage(stage, Outcome.FAIL, attempt=1, rework_limit=2, reason_code=code)
        assert route.action is (Action.HOLD if reason.kind is Kind.DATA else Action.REWORK), code


def test_families_stand_for_data_groups_1_to_16() -> None:
    for n in range(1, 17):
        assert find(f"qc.dg.hash.DG{n}") is REASONS["qc.dg.hash.DG<n>"]
        assert find(f"qc.lds.missing.DG{n}") is REASONS["qc.lds.missing.DG<n>"]
    for wrong in ("qc.dg.hash.DG0", "qc.dg.hash.DG17", "qc.dg.hash.DGx", "qc.dg.hash.DG1.x"):
        assert find(wrong) is None
    assert find("qc.lds.missing.SOD") is REASONS["qc.lds.missing.SOD"]


def test_every_code_fits_a_stage_event_and_names_its_stage() -> None:
    prefixes = {
        Stage.PRINT: "print.",
        Stage.ENCODE: "encode.",
        Stage.QC: "qc.",
        Stage.DISPATCH: "dispatch.",
        Stage.DELIVERY: "delivery.",
        Stage.MANAGER: "manager.",
    }
    for code, reason in REASONS.items():
        assert len(code.replace("<n>", "16")) <= 64, code  # StageEvent.reason_code
        assert code.startswith(prefixes[reason.stage]), code
        assert reason.meaning
    assert RETURN_REASONS[0] == "delivery.damaged" and "delivery.refused" in RETURN_REASONS


def test_the_spec_failure_reasons_are_the_catalogue_codes_of_their_stage() -> None:
    spec = default_spec()
    for stage in LINE_ORDER:
        reason = require(spec.stage(stage).failure_reason, stage=Stage(stage.value))
        assert reason.kind is Kind.SPOIL
    # The devices report these: the virtual printer jams, a defective chip answers 6581.
    assert spec.stage(Stage.PRINT).failure_reason == "print.jam"
    assert spec.stage(Stage.ENCODE).failure_reason == "encode.memory_failure"


@pytest.mark.parametrize(
    ("stage", "code", "words"),
    [
        ("print", "print.misprint", "unknown reason code"),
        ("chip-encode", "print.jam", "a reason code of print, not of chip-encode"),
        ("print", "print.offline", "a fault code, not one that spoils a card"),
        ("qc", "qc.dg.hash.DG99", "unknown reason code"),
    ],
)
def test_a_spec_with_a_failure_reason_outside_the_catalogue_is_refused(
    stage: str, code: str, words: str
) -> None:
    data = yaml.safe_load(default_spec_text())
    data["stages"][stage]["failure_reason"] = code
    with pytest.raises(SpecError) as caught:
        parse_spec(data, source="test.yaml")
    assert caught.value.field == f"stages.{stage}.failure_reason"
    assert words in str(caught.value) and f"(allowed at {stage}: " in str(caught.value)
    assert str(caught.value).startswith(f"line spec test.yaml: stages.{stage}.failure_reason: ")
    family = yaml.safe_load(default_spec_text())
    family["stages"]["qc"]["failure_reason"] = "qc.dg.hash.DG2"
    assert parse_spec(family).stage(Stage.QC).failure_reason == "qc.dg.hash.DG2"


def test_a_stage_failure_or_a_decision_outside_the_catalogue_is_refused_and_not_recorded(
    engine: Engine,
) -> None:
    with session_scope(engine) as session:
        app = add_application(session, seed=1, today=TODAY)
        assert app.id is not None
        card = start_print(
            session=session, application_id=app.id, actor="w", machine="print-01", at=at(0)
        )
        assert card.id is not None
        run = {
            "session": session, "card_id": card.id, "stage": Stage.PRINT, "outcome": Outcome.FAIL,
            "actor": "w", "machine": "print-01", "started_at": at(1), "ended_at": at(2),
            "rework_limit": 2,
        }  # fmt: skip
        with pytest.raises(UnknownReason) as caught:
            finish_stage(**run, reason_code="print.smudged")  # type: ignore[arg-type]
        assert str(caught.value) == (
            "reason_code: unknown failure reason 'print.smudged' (allowed at print: "
            + ", ".join(
                r.code
                for r in reasons.allowed(stage=Stage.PRINT, kinds=[Kind.SPOIL, Kind.DATA])
            )
            + ")"
        )
        with pytest.raises(UnknownReason, match="qc.reject is a reason code of qc, not of print"):
            finish_stage(**run, reason_code="qc.reject")  # type: ignore[arg-type]
        with pytest.raises(UnknownReason, match="print.offline is a fault code"):
            finish_stage(**run, reason_code="print.offline")  # type: ignore[arg-type]
        assert finish_stage(**run, reason_code="print.jam").action.value == "rework"  # type: ignore[arg-type]
        events = session.exec(select(StageEvent).order_by(StageEvent.id)).all()
        assert [e.reason_code for e in events] == ["print.started", "print.jam"]
        with pytest.raises(UnknownReason, match="unknown manager's decision 'manager.whim'"):
            release_held(
                session=session, application_id=app.id, actor="m", reason_code="manager.whim",
                at=at(3),
            )  # fmt: skip


def test_require_names_the_field_and_lists_the_codes_allowed() -> None:
    with pytest.raises(UnknownReason) as caught:
        require("", stage=Stage.DELIVERY, kinds=[Kind.RETURN], what="return reason")
    assert caught.value.allowed == RETURN_REASONS
    assert str(caught.value).startswith(
        "reason: a return reason is required (allowed at delivery: "
    )
    reason = require("delivery.refused", stage=Stage.DELIVERY, kinds=[Kind.RETURN])
    assert replace(reason, meaning="") == reasons.Reason(
        "delivery.refused", Stage.DELIVERY, Kind.RETURN, ""
    )
