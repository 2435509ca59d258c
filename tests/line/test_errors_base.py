"""One base exception for ``line``: every exception class its modules define derives from
``CardlineError`` (so the CLI and the flows catch cardline's errors with one clause)."""

from __future__ import annotations

from pathlib import Path

import pytest

import line
from line.errors import CardlineError
from line.yamlfile import YamlRefused, read_yaml
from tests.imports import error_classes


def test_every_exception_class_of_line_derives_from_cardline_error() -> None:
    strays = [
        name for name, cls in error_classes(line).items() if not issubclass(cls, CardlineError)
    ]
    assert strays == []


def test_a_refused_yaml_file_is_a_cardline_error_and_still_a_value_error(tmp_path: Path) -> None:
    alias = tmp_path / "alias.yaml"
    alias.write_text("a: &x 1\nb: *x\n", encoding="utf-8")
    with pytest.raises(YamlRefused, match="aliases") as caught:
        read_yaml(alias)
    assert isinstance(caught.value, CardlineError)
    assert isinstance(caught.value, ValueError)
