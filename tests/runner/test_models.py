"""The payload models hold real annotations: the converter resolves them on every decode."""

import dataclasses
import inspect
from types import ModuleType

import pytest

import alerts.models
import dispatcher.models
import runner.contract
import runner.models


@pytest.mark.parametrize(
    "module", [runner.models, runner.contract, dispatcher.models, alerts.models]
)
def test_no_payload_dataclass_has_string_annotations(module: ModuleType) -> None:
    stringly = [
        f"{name}.{field.name}"
        for name, cls in inspect.getmembers(module, dataclasses.is_dataclass)
        if cls.__module__ == module.__name__
        for field in dataclasses.fields(cls)
        if isinstance(field.type, str)
    ]
    assert stringly == []
