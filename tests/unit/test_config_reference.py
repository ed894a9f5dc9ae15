"""docs/configuration.md is generated from the config models, complete, and not stale; the
JSON Schema `paramedic config schema` prints validates real config files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from paramedic.cli.main import app
from paramedic.config import parse_config
from paramedic.config.reference import REGENERATE, main, render, sections
from paramedic.config.reference_rules import EXAMPLES, RULES, rule_for
from paramedic.config.schema import config_json_schema

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"


def _by_section(page: str) -> dict[str, str]:
    parts = re.split(r"^### ", page, flags=re.M)
    return {part.split("\n", 1)[0]: part for part in parts[1:]}


def test_committed_reference_is_not_stale() -> None:
    """The committed page is exactly what the models produce today; the failure names the
    command that regenerates it."""
    assert DOC.read_text(encoding="utf-8") == render(), (
        f"docs/configuration.md is stale; regenerate it: {REGENERATE}"
    )
    assert "seed" not in render().lower()  # the models' docstrings cite the spec; users do not


def test_check_mode_fails_on_a_stale_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--check` exits 1 on a page that differs and says how to regenerate; 0 on a fresh one."""
    stale = tmp_path / "configuration.md"
    stale.write_text(render().replace("| `flap_changes` |", "| `flap_changez` |"))
    assert 1 == main(["--check", str(stale)])
    assert REGENERATE in capsys.readouterr().err
    stale.write_text(render())
    assert 0 == main(["--check", str(stale)])


def test_every_key_of_every_model_is_in_the_reference() -> None:
    """Walking the models from `Config` down, every key has a row in its model's section."""
    found = _by_section(DOC.read_text(encoding="utf-8"))
    missing = []
    walked = sections()
    for section in walked:
        body = found.get(section.model.__name__, "")
        for name, info in section.model.model_fields.items():
            if f"| `{info.alias or name}` |" not in body:
                missing.append(f"{section.path}: {info.alias or name}")
    assert [] == missing
    assert len(walked) > 60  # the walk reaches the nested sections, not only the top level
    for key in ("flap_changes", "gate", "stable_after", "key_id", "require"):
        assert f"| `{key}` |" in DOC.read_text(encoding="utf-8")


def test_every_cross_field_rule_has_a_sentence() -> None:
    """Each model validator of each model says its rule in one sentence, and no sentence is
    kept for a validator that no longer exists."""
    unexplained = []
    existing = set()
    for section in sections():
        decorators = section.model.__pydantic_decorators__
        for name in decorators.model_validators:
            if not rule_for(section.model, name):
                unexplained.append(f"{section.model.__name__}.{name}")
        existing.update(
            f"{section.model.__name__}.{name}"
            for name in (*decorators.model_validators, *decorators.field_validators)
        )
    assert [] == unexplained
    assert [] == sorted(set(RULES) - existing)
    page = DOC.read_text(encoding="utf-8")
    assert "must include `manual`" in _by_section(page)["ApprovalRequire"]


def test_durations_and_sizes_show_units_in_the_reference() -> None:
    """A duration default reads as config writes it (`100ms`, `5m`), not as a float."""
    body = _by_section(DOC.read_text(encoding="utf-8"))
    assert "| `interval` | duration" in body["HeartbeatConfig"]
    assert "`100ms`" in body["HeartbeatConfig"]
    assert (
        "| `stable_after` | duration (`100ms`, `5s`, `2m`, `1h`) | `1m` |" in body["RestartConfig"]
    )
    assert "`1MiB`" in body["ApiConfig"]


def _example_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "heartbeat.key").write_text("k" * 32)
    env = {"PARAMEDIC_OPERATOR_TOKEN": "t" * 24, "HOOK_SECRET": "s" * 24}
    return env, tmp_path


@pytest.mark.parametrize("title", list(EXAMPLES))
def test_every_example_is_a_valid_config(title: str, tmp_path: Path) -> None:
    """Each example of the reference loads as a real config and passes the JSON Schema."""
    env, base = _example_env(tmp_path)
    text = EXAMPLES[title]
    parse_config(text, env=env, base_dir=base)
    jsonschema.validate(yaml.safe_load(text), config_json_schema(), cls=_Validator)
    assert text.strip() in DOC.read_text(encoding="utf-8")


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    # YAML reads an unquoted `2026-12-25` as a date; an editor's YAML check sees a string.
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "string",
        lambda _checker, value: isinstance(value, str) or type(value).__name__ == "date",
    ),
)


def test_demo_config_validates_against_the_printed_schema() -> None:
    """`paramedic config schema` prints JSON that the demo's own config satisfies."""
    result = CliRunner().invoke(app, ["config", "schema"])
    assert 0 == result.exit_code, result.output
    schema = json.loads(result.output)
    assert schema == config_json_schema()
    demo = yaml.safe_load((ROOT / "examples" / "demo.yaml").read_text())
    jsonschema.validate(demo, schema, cls=_Validator)


def _errors(doc: Any) -> list[str]:
    validator = _Validator(config_json_schema())
    return [".".join(map(str, e.absolute_path)) for e in validator.iter_errors(doc)]


def test_schema_describes_what_people_write() -> None:
    """Durations and sizes are strings with a unit (a bare number is refused, as the loader
    refuses it); unknown keys are refused; secret references say what they hold."""
    ok = {"services": {"e": {"heartbeat": {"interval": "100ms"}}}}
    assert [] == _errors(ok)
    assert ["shutdown_timeout"] == _errors({"shutdown_timeout": 5})
    assert ["services.e.heartbeat"] == _errors({"services": {"e": {"heartbeat": {"interval": 5}}}})
    assert ["api.max_body_size"] == _errors({"api": {"max_body_size": "12 parsecs"}})
    assert ["api"] == _errors({"api": {"listne": "127.0.0.1:1"}})
    schema = config_json_schema()
    interval = schema["$defs"]["HeartbeatConfig"]["properties"]["interval"]
    assert ("string", "100ms") == (interval["type"], interval["default"])
    token_env = schema["$defs"]["ApiToken"]["properties"]["token_env"]
    assert "environment variable" in token_env["description"]


def test_the_page_speaks_to_users_without_citing_the_product_spec() -> None:
    """The models' docstrings become the page's prose: none may cite the spec's sections
    (they did, and a regular expression used to strip the citations on the way out)."""
    page = render()
    assert not re.search(r"\bseed\b", page, re.IGNORECASE), "a model docstring cites the spec"
