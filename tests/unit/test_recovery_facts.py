"""The facts a recovery step is told, and the answer formats the decision's checks must use:
a wrong format is an error naming what was expected, never read as "no" in silence."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any, cast

import pytest

from paramedic.checks import CheckResult
from paramedic.config.recovery_plan import RecoveryPlan, StepConfig
from paramedic.config.recovery_policy import ApprovalRequire, DecisionThresholds
from paramedic.core.clock import Instant
from paramedic.core.events import event_from_record
from paramedic.core.incident_events import RecoveryDecided
from paramedic.recovery.decision import DecisionInput, decide
from paramedic.recovery.facts import (
    FACTS_FILE_ENV,
    decision_facts,
    facts_env,
    facts_file,
    step_facts,
    sweep,
)
from paramedic.recovery.hooks import RecoveryHooks, StepContext
from paramedic.recovery.runner import Step, build_step, build_steps, run_method
from paramedic.recovery.sources import (
    CHECKPOINT_FORMAT,
    CORRUPTION_FORMAT,
    STANDBY_FORMAT,
    VOLATILITY_FORMAT,
    StandbyAnswer,
    read_checkpoint_age,
    read_corruption,
    read_standby,
    read_volatility,
)


def test_standby_answers_in_the_documented_format() -> None:
    """`{"available", "synced", "lag_seconds"}` is read; synced and lag may be left out when
    nothing is available; a null lag is unknown."""
    assert StandbyAnswer(True, True, 0.2) == read_standby(
        {"available": True, "synced": True, "lag_seconds": 0.2}
    )
    assert StandbyAnswer(False, False, None) == read_standby({"available": False})
    assert StandbyAnswer(True, False, None) == read_standby(
        {"available": True, "synced": False, "lag_seconds": None, "role": "standby"}
    )


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ({"in_sync": True}, "available is not true or false"),
        ({"available": "yes", "synced": True}, "available is not true or false"),
        ({"available": True}, "synced is missing"),
        ({"available": True, "synced": 1}, "synced is not true or false"),
        ({"available": True, "synced": True, "lag_seconds": "2s"}, "lag_seconds is not a number"),
        ({"available": True, "synced": True, "lag_seconds": -1}, "lag_seconds is negative"),
        ([True, True], "not a JSON object"),
        ("synced", "not a JSON object"),
    ],
)
def test_a_standby_answer_in_another_format_says_what_was_expected(doc: Any, why: str) -> None:
    """Each guessed format is refused with what came, why, and the expected format."""
    with pytest.raises(ValueError, match="expected") as info:
        read_standby(doc)
    shown = json.dumps(doc)
    assert f"the standby check answered {shown} ({why}); expected {STANDBY_FORMAT}" == str(
        info.value
    )


def test_corruption_volatility_and_checkpoint_formats() -> None:
    """Each source has one format; anything else names it."""
    assert (False, "") == read_corruption({"corrupt": False})
    assert (True, "positions differ") == read_corruption(
        {"corrupt": True, "detail": "positions differ"}
    )
    assert (1.8, 1.2) == read_volatility({"current": 1.8, "average": 1.2})
    assert 42.5 == read_checkpoint_age({"age_seconds": 42.5})
    wrong = [
        (read_corruption, {"ok": True}, CORRUPTION_FORMAT, "corrupt is not true or false"),
        (read_corruption, {"corrupt": "no"}, CORRUPTION_FORMAT, "corrupt is not true or false"),
        (read_corruption, {"corrupt": True, "detail": 3}, CORRUPTION_FORMAT, "detail is not"),
        (read_volatility, {"vol": 2.0}, VOLATILITY_FORMAT, "current is missing"),
        (read_volatility, {"current": 2.0}, VOLATILITY_FORMAT, "average is missing"),
        (read_volatility, {"current": True, "average": 1}, VOLATILITY_FORMAT, "not a number"),
        (read_checkpoint_age, {"age": 3}, CHECKPOINT_FORMAT, "age_seconds is missing"),
        (read_checkpoint_age, 3, CHECKPOINT_FORMAT, "not a JSON object"),
    ]
    for read, doc, expected, why in wrong:
        with pytest.raises(ValueError, match="answered") as info:
            read(doc)  # type: ignore[operator]
        assert str(info.value).endswith(f"; expected {expected}"), info.value
        assert why in str(info.value)


RULES = DecisionThresholds()
REQUIRE = ApprovalRequire()


def test_an_unreadable_volatility_check_keeps_a_cold_restart_for_a_human() -> None:
    """Volatility unknown vetoes cold as a hot market does (the check exists to stop a slow
    rebuild in a hot market); hot and warm are not affected."""
    unknown = DecisionInput(failure_kind="crash", volatility_unknown=True)
    decision = decide(unknown, RULES, REQUIRE)
    assert "manual" == decision.method
    assert decision.sentence.startswith("manual: volatility unknown")
    recent = DecisionInput(failure_kind="crash", volatility_unknown=True, checkpoint_age_s=10.0)
    assert "warm" == decide(recent, RULES, REQUIRE).method
    assert "cold" == decide(DecisionInput(failure_kind="crash"), RULES, REQUIRE).method


def facts() -> dict[str, Any]:
    decided = decision_facts(
        decided_at_wall=1_800_000_000.25,
        sentence="warm restart: checkpoint 12 s old; no standby available",
        market_open=False,
        recent_failures=1,
        checkpoint_path="/srv/state/checkpoint.bin",
        checkpoint_age_s=12.34567,
        standby_url=None,
        standby_available=False,
        standby_synced=False,
        standby_lag_s=None,
        volatility_current=None,
        volatility_average=None,
        data_corrupt=False,
        corruption_detail="",
        problems=["standby unknown, treated as none: ...", "bad\x00byte"],
    )
    return step_facts(
        decided,
        service="engine",
        incident="inc_1",
        method="warm",
        failure_kind="crash",
        incident_sentence="pid 41 killed by SIGKILL",
    )


def test_facts_as_environment_variables() -> None:
    """Every known fact is `PARAMEDIC_<KEY>`; booleans are true/false; unknown facts are left
    out (not set to a word a script could take for a value); no NUL reaches the environment."""
    env = facts_env(facts())
    assert {
        "PARAMEDIC_SERVICE": "engine",
        "PARAMEDIC_INCIDENT": "inc_1",
        "PARAMEDIC_METHOD": "warm",
        "PARAMEDIC_FAILURE_KIND": "crash",
        "PARAMEDIC_INCIDENT_SENTENCE": "pid 41 killed by SIGKILL",
        "PARAMEDIC_DECISION": "warm restart: checkpoint 12 s old; no standby available",
        "PARAMEDIC_DECIDED_AT": "2027-01-15T08:00:00.250Z",
        "PARAMEDIC_MARKET_OPEN": "false",
        "PARAMEDIC_RECENT_FAILURES": "1",
        "PARAMEDIC_CHECKPOINT_PATH": "/srv/state/checkpoint.bin",
        "PARAMEDIC_CHECKPOINT_AGE_SECONDS": "12.346",
        "PARAMEDIC_STANDBY_AVAILABLE": "false",
        "PARAMEDIC_STANDBY_SYNCED": "false",
        "PARAMEDIC_DATA_CORRUPT": "false",
        "PARAMEDIC_PROBLEMS": "standby unknown, treated as none: ...; badbyte",
    } == env


async def test_facts_file_is_private_and_removed_after_the_step() -> None:
    """The file is 0600 in a 0700 folder of its own, holds the facts as JSON, and is gone
    (folder too) when the step ends, also when the step raised."""
    async with facts_file(facts()) as path:
        assert 0o600 == stat.S_IMODE(path.stat().st_mode)
        assert 0o700 == stat.S_IMODE(path.parent.stat().st_mode)
        assert facts() == {**json.loads(path.read_text()), "problems": facts()["problems"]}
    assert not path.parent.exists()
    with pytest.raises(RuntimeError):
        async with facts_file(facts()) as path:
            raise RuntimeError
    assert not path.parent.exists()


async def test_a_program_step_gets_the_file_and_a_hook_step_does_not() -> None:
    """run_method hands a facts-reading step `PARAMEDIC_FACTS_FILE` (readable while it runs,
    removed after); a restart_process-like step gets no file."""
    seen: dict[str, Any] = {}

    async def program(ctx: StepContext) -> CheckResult:
        path = Path(ctx.env[FACTS_FILE_ENV])
        seen["path"], seen["doc"] = path, json.loads(path.read_text())  # noqa: ASYNC240
        seen["service"] = ctx.env["PARAMEDIC_SERVICE"]
        return CheckResult(True, "read", 0.0)

    async def hook(ctx: StepContext) -> CheckResult:
        seen["hook_env"] = dict(ctx.env)
        return CheckResult(True, "restarted", 0.0)

    steps = [
        Step("restore", "command", 5.0, None, program, reads_facts=True),
        Step("restart", "restart_process", 5.0, None, hook),
    ]
    ctx = StepContext(
        service="engine", session=cast(Any, None), env=facts_env(facts()), facts=facts()
    )
    result = await run_method("warm", steps, ctx)
    assert result.ok
    assert "warm" == seen["doc"]["method"]
    assert 12.346 == seen["doc"]["checkpoint_age_seconds"]
    assert "engine" == seen["service"]
    assert not seen["path"].exists()
    assert FACTS_FILE_ENV not in seen["hook_env"]


def test_decided_facts_survive_the_store() -> None:
    """The decision's facts ride on `recovery.decided` and come back from a stored payload
    (JSON) equal, so a run resumed after a restart tells its steps the same facts."""
    event = RecoveryDecided(
        at=Instant(1.0, 2.0),
        service="engine",
        incident="inc_1",
        method="warm",
        requires_approval=False,
        sentence="warm restart",
        facts=tuple(facts().items()),
    )
    payload = json.loads(json.dumps(event.payload()))
    back = event_from_record(
        "recovery.decided", id=event.id, mono=1.0, wall=2.0, service="engine", payload=payload
    )
    assert isinstance(back, RecoveryDecided)
    assert facts_env(dict(back.facts)) == facts_env(facts())


def test_which_steps_get_the_facts_file() -> None:
    """Programs (command, a command promotion) and python steps get the file; HTTP calls are
    sent as configured; process hooks and waits run nothing of the user's."""
    plan = RecoveryPlan.model_validate(
        {
            "methods": {
                "warm": {
                    "steps": [
                        {"name": "a", "command": {"argv": ["true"]}},
                        {"name": "b", "promote_standby": {"command": {"argv": ["true"]}}},
                        {"name": "c", "python": {"entry_point": f"{__name__}:python_step"}},
                        {"name": "d", "http": {"url": "http://127.0.0.1:1/x"}},
                        {"name": "e", "promote_standby": {"http": {"url": "http://127.0.0.1:1"}}},
                        {"name": "f", "restart_process": {}},
                        {"name": "g", "wait_healthy": {}},
                    ]
                }
            }
        }
    )
    assert plan.methods.warm is not None
    steps = build_steps(plan.methods.warm)
    assert ["a", "b", "c"] == [s.name for s in steps if s.reads_facts]


PYTHON_SEEN: dict[str, Any] = {}


async def python_step(ctx: StepContext) -> str:
    """A custom step (entry point of the test below): it reads ctx.facts and the file."""
    PYTHON_SEEN["facts"] = dict(ctx.facts)
    PYTHON_SEEN["file"] = json.loads(Path(ctx.env[FACTS_FILE_ENV]).read_text())  # noqa: ASYNC240
    return "read the facts"


async def test_a_python_step_finds_the_facts_on_its_context() -> None:
    """A `python` step is handed the facts as `ctx.facts` and the file in `ctx.env`."""
    step = build_step(
        StepConfig.model_validate(
            {"name": "py", "python": {"entry_point": f"{__name__}:python_step"}}
        )
    )
    ctx = StepContext(
        service="engine", session=cast(Any, None), env=facts_env(facts()), facts=facts()
    )
    assert (await run_method("warm", [step], ctx)).ok
    assert "inc_1" == PYTHON_SEEN["facts"]["incident"] == PYTHON_SEEN["file"]["incident"]


def test_docs_list_every_fact_and_its_variable() -> None:
    """docs/recovery.md's table names every key of the facts and its PARAMEDIC_* variable,
    and its example file has exactly the keys a step gets."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "recovery.md").read_text()
    for key, name in zip(facts(), facts_env(dict.fromkeys(facts(), "x")), strict=True):
        assert f"| `{name}` | `{key}` |" in page
    example = page.split("```json\n", 1)[1].split("```", 1)[0]
    assert sorted(facts()) == sorted(json.loads(example))


async def test_facts_files_live_in_paramedics_folder_and_a_sweep_removes_leftovers(
    tmp_path: Path,
) -> None:
    """Given paramedic's folder (created 0700, or tightened to 0700), each step gets a fresh
    `step-*` folder in it, gone after the step; `sweep` removes the step folders a kill -9
    left (two here) and nothing else in the folder, and counts them."""
    folder = tmp_path / "p.db.facts"
    async with facts_file(facts(), folder) as first:
        assert folder == first.parent.parent
        assert 0o700 == stat.S_IMODE(folder.stat().st_mode)
        async with facts_file(facts(), folder) as second:
            assert first.parent != second.parent
    assert [] == list(folder.iterdir())
    folder.chmod(0o755)
    for name in ("step-a1", "step-b2"):
        (folder / name).mkdir()
        (folder / name / "facts.json").write_text("{}")
    (folder / "notes.txt").write_text("not ours to remove")
    assert 2 == sweep(folder)
    assert ["notes.txt"] == [e.name for e in folder.iterdir()]
    assert 0 == sweep(folder)
    assert 0 == sweep(tmp_path / "missing")
    async with facts_file(facts(), folder):
        assert 0o700 == stat.S_IMODE(folder.stat().st_mode)


async def test_a_facts_folder_that_is_a_link_is_refused_and_the_step_does_not_run(
    tmp_path: Path,
) -> None:
    """A facts folder that is a symbolic link (somewhere another user may read) is never
    written to or swept: the step fails saying why, without running."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "step-x").mkdir()
    link = tmp_path / "p.db.facts"
    link.symlink_to(elsewhere)
    assert 0 == sweep(link)
    assert (elsewhere / "step-x").exists()
    ran: list[str] = []

    async def program(ctx: StepContext) -> CheckResult:
        ran.append("yes")
        return CheckResult(True, "ran", 0.0)

    ctx = StepContext(
        service="engine",
        session=cast(Any, None),
        facts=facts(),
        hooks=RecoveryHooks(facts_dir=link),
    )
    step = Step("restore", "command", 5.0, None, program, reads_facts=True)
    result = await run_method("warm", [step], ctx)
    assert not result.ok
    assert [] == ran
    assert "restore not run: its facts file: " in result.sentence
    assert [elsewhere / "step-x"] == list(elsewhere.iterdir())
