"""The domain of the production line: what the line is, what moves through it, and the rules.

Public names are re-exported here; persistence (``line.models``, ``line.db``), intake
(``line.intake``) and the stage operations (``line.operations``) are imported from their
modules, so that a look at a spec does not pull in the database layer.
"""

from line.errors import (
    CardlineError,
    IllegalTransition,
    IntakeFileError,
    LiveCardExists,
    NotFound,
    SchemaError,
    SpecError,
)
from line.idnumber import check_id_number, make_id_number, mask_id
from line.routing import Action, Route, next_stage
from line.spec import LineSpec, ShiftCalendar, StageSpec, default_spec, load_spec, parse_spec
from line.types import (
    LINE_ORDER,
    ApplicationState,
    CardState,
    Clock,
    EventKind,
    Outcome,
    Stage,
)

__all__ = [
    "LINE_ORDER",
    "Action",
    "ApplicationState",
    "CardState",
    "CardlineError",
    "Clock",
    "EventKind",
    "IllegalTransition",
    "IntakeFileError",
    "LineSpec",
    "LiveCardExists",
    "NotFound",
    "Outcome",
    "Route",
    "SchemaError",
    "ShiftCalendar",
    "SpecError",
    "Stage",
    "StageSpec",
    "check_id_number",
    "default_spec",
    "load_spec",
    "make_id_number",
    "mask_id",
    "next_stage",
    "parse_spec",
]
