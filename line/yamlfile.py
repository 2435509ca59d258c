"""Reading cardline's own YAML files (line specs, scenarios) safely: bounded in size, UTF-8,
no aliases, and every refusal one short line (``YamlRefused``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from line.errors import CardlineError

MAX_YAML_BYTES = 1 << 20
"""The largest spec or scenario file read (the reference spec is under 10 KiB)."""

MAX_MESSAGE = 200
"""Characters of a value or a parser's complaint quoted in an error message."""


class YamlRefused(CardlineError, ValueError):
    """A YAML file of cardline's (a spec, a scenario) that is not read: unreadable, too
    large, not UTF-8, not YAML, or using aliases. The message is one short line. (A
    ``ValueError`` too, as it was before it joined cardline's errors.)"""


class SafeYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases: ``*name`` (and so ``<<: *name``) is refused.
    Specs and scenarios have no use for them, and nested aliases ("billion laughs") make a
    few hundred bytes stand for billions of values, which validation and error messages
    then walk."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed here", event.start_mark
            )
        return super().compose_node(parent, index)


def shorten(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line, at most ``limit`` characters (an ellipsis says it was cut)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or exc.context or "not YAML"
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return shorten(f"{problem}{where}")
    return shorten(str(exc))


def read_yaml(path: Path, *, loader: type[SafeYamlLoader] = SafeYamlLoader) -> Any:
    """The data of a YAML file, read safely: at most ``MAX_YAML_BYTES``, UTF-8 (a BOM is
    fine), no aliases, not nested past the interpreter's recursion limit. Raises
    ``YamlRefused`` with a short reason."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise YamlRefused(f"cannot read: {exc.strerror or exc}") from exc
    if len(raw) > MAX_YAML_BYTES:
        raise YamlRefused(f"larger than {MAX_YAML_BYTES >> 20} MiB: not a spec or scenario")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise YamlRefused(f"not UTF-8 text (byte {exc.start})") from exc
    return parse_yaml(text, loader=loader)


def parse_yaml(text: str, *, loader: type[SafeYamlLoader] = SafeYamlLoader) -> Any:
    """``text`` as YAML with ``loader`` (no aliases); ``YamlRefused`` with a short reason."""
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise YamlRefused(f"not valid YAML: {_yaml_problem(exc)}") from exc
    except RecursionError as exc:
        raise YamlRefused("not valid YAML: nested too deeply") from exc
