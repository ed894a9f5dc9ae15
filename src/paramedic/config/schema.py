"""The JSON Schema of the config file, for editors that validate YAML as it is typed.

Pydantic's own schema describes the validated values: a duration is a number of seconds, a
size a number of bytes. The file holds what people write (`5s`, `512MiB`, `'08:30'`), and a
bare number there is an error, so those keys are described as strings with the pattern the
parser accepts, and their defaults are written the same way. Secret references (`*_env`,
`*_file`) say what they hold.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from paramedic.config.model import Config
from paramedic.config.reference import config_duration, config_size, sections
from paramedic.config.reference_rules import DERIVED_DEFAULTS
from paramedic.config.types import SecretRef

__all__ = ["DURATION_PATTERN", "SIZE_PATTERN", "config_json_schema", "config_json_schema_text"]

DURATION_PATTERN = r"^\s*([0-9]+(\.[0-9]+)?(us|ms|s|m|h|d))+\s*$"
SIZE_PATTERN = r"^\s*[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$"
_RATE_PATTERN = (
    r"^\s*[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*/\s*(s|sec|min|m|h|hour)\s*$"
)
_UNIT = "x-paramedic-unit"

_WRITTEN: dict[str, JsonSchemaValue] = {
    "duration": {
        "type": "string",
        "pattern": DURATION_PATTERN,
        "description": "A duration with a unit (us, ms, s, m, h, d), e.g. 100ms, 5s, 1h30m.",
    },
    "size": {
        "type": "string",
        "pattern": SIZE_PATTERN,
        "description": "A size with a unit, e.g. 512MiB, 2GiB, 5GB.",
    },
    "rate": {
        "type": "string",
        "pattern": _RATE_PATTERN,
        "description": "A rate written as size/time, e.g. 10MiB/min.",
    },
    "time": {
        "type": "string",
        "pattern": r"^\s*[0-2][0-9]:[0-5][0-9](:[0-5][0-9])?\s*$",
        "description": "A time of day, quoted: '08:30'.",
    },
}


def _unit(schema: core_schema.CoreSchema) -> str | None:
    func: Any = schema.get("function", {})
    fn = func.get("function") if isinstance(func, dict) else None
    name = getattr(fn, "__name__", "")
    if name == "_duration":
        return "duration"
    if name == "_time_of_day":
        return "time"
    if name == "validate" and getattr(fn, "__qualname__", "").startswith("_unit_required"):
        cells = [c.cell_contents for c in (getattr(fn, "__closure__", None) or ())]
        parsers = [getattr(c, "__name__", "") for c in cells]
        return "rate" if "parse_rate" in parsers else "size"
    return None


class _WrittenForm(GenerateJsonSchema):
    """Describe unit-carrying keys as the strings people write, not the parsed numbers."""

    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> JsonSchemaValue:
        unit = _unit(schema)
        if unit is not None:
            return {**_WRITTEN[unit], _UNIT: unit}
        return super().function_before_schema(schema)

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        found = super().default_schema(schema)
        unit = _find_unit(inner)
        default = found.get("default")
        if unit and isinstance(default, int | float) and not isinstance(default, bool):
            found["default"] = (config_duration if unit == "duration" else config_size)(default)
        return found


def _find_unit(schema: JsonSchemaValue) -> str | None:
    if _UNIT in schema:
        return str(schema[_UNIT])
    for option in schema.get("anyOf", ()):
        if _UNIT in option:
            return str(option[_UNIT])
    return None


def _strip_marks(node: Any) -> Any:
    if isinstance(node, dict):
        # pydantic copies the parsed number's bounds (`ge`, `gt`) beside the string form;
        # they are no JSON Schema keywords and mean nothing for a string.
        drop = {_UNIT, "ge", "gt", "le", "lt"} if _UNIT in node else {_UNIT}
        return {k: _strip_marks(v) for k, v in node.items() if k not in drop}
    if isinstance(node, list):
        return [_strip_marks(v) for v in node]
    return node


def _describe_secrets(schema: dict[str, Any]) -> None:
    defs = schema.get("$defs", {})
    for section in sections():
        model = section.model
        if not issubclass(model, SecretRef) or model.__name__ not in defs:
            continue
        for name, prop in defs[model.__name__].get("properties", {}).items():
            base, _, kind = name.rpartition("_")
            if kind == "env" and base:
                prop["description"] = (
                    f"Name of the environment variable holding {base} (give this or"
                    f" {base}_file, never the secret itself)."
                )
            elif kind == "file" and base:
                prop["description"] = (
                    f"File holding only {base}, relative to the config file (give this or"
                    f" {base}_env)."
                )


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a config file as written."""
    schema: dict[str, Any] = _strip_marks(
        Config.model_json_schema(mode="validation", schema_generator=_WrittenForm)
    )
    _describe_secrets(schema)
    for derived in DERIVED_DEFAULTS:
        model, _, key = derived.partition(".")
        found = schema["$defs"].get(model, {})
        if key in found.get("required", ()):
            found["required"].remove(key)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "paramedic configuration"
    return schema


def config_json_schema_text() -> str:
    return json.dumps(config_json_schema(), indent=2, sort_keys=True) + "\n"
