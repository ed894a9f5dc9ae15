"""`paramedic top`'s frame: ids whole at any width, the states an operator reads."""

from __future__ import annotations

from rich.console import Console

from paramedic.cli.top import Snapshot, render

ASK = "inc_01m95q49nskhxhhw30xbdh1wfj:approval:evt_01m95q49qkce63bsz6rpga9bds"


def _frame(snapshot: Snapshot, width: int) -> str:
    console = Console(width=width, record=True, color_system=None)
    with console.capture() as captured:
        console.print(render(snapshot, width), soft_wrap=True)  # as `top --once` prints
    return captured.get()


def _snapshot() -> Snapshot:
    return Snapshot(
        at=1000.0,
        health={"healthy": False, "components": {"store": False, "loop": True}, "metrics": {}},
        services={
            "engine": {"up": 0.0, "state": 2.0},
            "feed": {"up": 1.0, "reported_healthy": 0.0},
            "risk": {"up": 0.0},
        },
        incidents=[
            {
                "id": "inc_01m95q49nskhxhhw30xbdh1wfj",
                "service": "engine",
                "state": "AWAITING_APPROVAL",
                "kind": "crash",
                "opened": 940.0,
                "closed": False,
            }
        ],
        statuses={
            "engine": {
                "state": "AWAITING_APPROVAL",
                "progress_percentage": 0,
                "current_step": "Awaiting approval of cold recovery",
            }
        },
        alerts=[{"id": ASK, "severity": "P1", "service": "engine", "alert": {"title": "ask"}}],
    )


def test_a_long_alert_id_stays_whole_on_one_line_at_60_columns() -> None:
    """A 71-character approval alert id does not fit a table at 60 columns: its row becomes
    a block headed by the whole id."""
    frame = _frame(_snapshot(), 60)
    assert any(line.strip() == ASK for line in frame.splitlines())
    assert "inc_01m95q49nskhxhhw30xbdh1wfj" in frame


def test_the_live_view_folds_a_long_id_rather_than_crop_it() -> None:
    """The live view is not soft-wrapped: the id that does not fit goes on over the next
    line, every character of it there."""
    console = Console(width=60, record=True, color_system=None)
    with console.capture() as captured:
        console.print(render(_snapshot(), 60))
    lines = captured.get().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(ASK[:60]))
    assert ASK == lines[at].strip() + lines[at + 1].strip()


def test_states_time_since_failure_and_own_health() -> None:
    """The awaiting service says so with its step and the minute since its failure; a
    service whose own /health says unhealthy is degraded, one paramedic sees down is down;
    paramedic's failing component is named."""
    frame = _frame(_snapshot(), 200)
    engine = next(line for line in frame.splitlines() if "│ engine" in line)
    assert "awaiting approval" in engine
    assert "1 min" in engine or "60" in engine
    assert "Awaiting approval of cold recovery" in engine
    feed = next(line for line in frame.splitlines() if "│ feed" in line)
    assert "degraded" in feed
    assert "down" in next(line for line in frame.splitlines() if "│ risk" in line)
    assert "UNHEALTHY (failing: store)" in frame
    assert "open incidents 1" in frame
    assert "unacknowledged alerts 1" in frame
