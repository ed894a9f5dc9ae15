"""The demo trading floor's config (examples/floor/floor.yaml, what `make demo` runs) is valid
as shipped and says what the floor's README promises."""

from __future__ import annotations

import jsonschema
import yaml

from paramedic.alerting.reach import review
from paramedic.alerting.routing import Router
from paramedic.config import load_config
from paramedic.config.load import ConfigIssue
from paramedic.config.schema import config_json_schema
from tests.conftest import REPO
from tests.unit.test_config_reference import _Validator

FLOOR = REPO / "examples" / "floor" / "floor.yaml"


def test_the_floor_config_is_valid_and_shows_the_decision_paths() -> None:
    """Six services (the inbox is one); the engine and the gateway depend on the exchange;
    the engine has a standby check, a checkpoint, a corruption check and all four methods;
    warm, cold and manual need approval while the (calendar-less, always open) market is
    open, hot never. Its commands (`python3 checkpoint.py ...`) run in the floor's folder,
    so `make demo` from the repository's root finds them."""
    config = load_config(FLOOR, env={})
    services = {"exchange", "feed", "engine", "engine-standby", "gateway", "inbox"}
    assert services == set(config.services)
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
    assert plan.corruption.check.command is not None
    assert FLOOR.parent == plan.corruption.check.command.cwd
    hooks = engine.chaos
    assert None not in (hooks.hang, hooks.latency, hooks.corrupt_checkpoint, hooks.standby_lag)
    assert config.services["exchange"].chaos.disconnect is not None


def test_the_floor_config_validates_against_the_printed_schema() -> None:
    """An editor validating floor.yaml with `paramedic config schema` finds nothing wrong."""
    doc = yaml.safe_load(FLOOR.read_text())
    jsonschema.validate(doc, config_json_schema(), cls=_Validator)


def test_the_on_call_is_paged_on_the_inbox_and_the_file_has_no_warning() -> None:
    """P0 and P1 reach the on-call on the `inbox` webhook (the floor's inbox service, port
    8106) and the log; P2 and P3 the log; the on-call is the first rung of both ladders; and
    `paramedic config check` has nothing to warn about (no default receiver falls back)."""
    warnings: list[ConfigIssue] = []
    config = load_config(FLOOR, env={}, warnings=warnings, review=review)
    assert [] == warnings
    inbox = config.channels["inbox"]
    assert "webhook" == inbox.kind
    assert inbox.webhook is not None
    assert "http://127.0.0.1:8106/page" == inbox.webhook.url
    router = Router.from_config(config.alerting.routes, config.alerting.contacts)
    reached = {
        sev: [(d.receiver, d.channels) for d in router.route({"severity": sev})]
        for sev in ("P0", "P1", "P2", "P3")
    }
    on_call = [("oncall", ("inbox", "log"))]
    assert {"P0": on_call, "P1": on_call, "P2": [("log", ("log",))]} == {
        k: reached[k] for k in ("P0", "P1", "P2")
    }
    assert [("log", ("log",))] == reached["P3"]
    for sev in ("P0", "P1"):
        [first] = config.alerting.escalation.policies[sev].steps
        assert (0.0, ["oncall"]) == (first.after, first.contacts)
    assert config.services["inbox"].tier not in (1, 2)
