"""The demo trading floor's config (examples/floor/floor.yaml, what `make demo` runs) is valid
as shipped and says what the floor's README promises."""

from __future__ import annotations

import jsonschema
import yaml

from paramedic.config import load_config
from paramedic.config.schema import config_json_schema
from tests.conftest import REPO
from tests.unit.test_config_reference import _Validator

FLOOR = REPO / "examples" / "floor" / "floor.yaml"


def test_the_floor_config_is_valid_and_shows_the_decision_paths() -> None:
    """Five services; the engine and the gateway depend on the exchange; the engine has a
    standby check, a checkpoint, a corruption check and all four methods; warm, cold and
    manual need approval while the (calendar-less, always open) market is open, hot never."""
    config = load_config(FLOOR, env={})
    assert {"exchange", "feed", "engine", "engine-standby", "gateway"} == set(config.services)
    engine = config.services["engine"]
    assert "exchange" in engine.depends_on
    assert ["exchange"] == config.services["gateway"].depends_on
    plan = engine.recovery
    assert plan is not None
    assert None not in (plan.standby, plan.checkpoint, plan.corruption)
    assert None not in (plan.methods.hot, plan.methods.warm, plan.methods.cold)
    assert config.recovery.market is None
    require = config.recovery.approval.require
    assert {"warm", "cold", "manual"} == set(require.market_open)
    assert (300.0, 3) == (
        config.recovery.decision.checkpoint_max_age,
        config.recovery.decision.failures_limit,
    )
    hooks = engine.chaos
    assert None not in (hooks.hang, hooks.latency, hooks.corrupt_checkpoint, hooks.standby_lag)
    assert config.services["exchange"].chaos.disconnect is not None


def test_the_floor_config_validates_against_the_printed_schema() -> None:
    """An editor validating floor.yaml with `paramedic config schema` finds nothing wrong."""
    doc = yaml.safe_load(FLOOR.read_text())
    jsonschema.validate(doc, config_json_schema(), cls=_Validator)
