"""Config: every kind of mistake is reported with its key path and file position."""

from __future__ import annotations

from pathlib import Path

import pytest

from paramedic.config import InvalidConfig, load_config, parse_config
from paramedic.config.durations import parse_duration

REPO = Path(__file__).resolve().parents[2]

BASE = """
heartbeat:
  listen: 127.0.0.1:9999
  key_env: HB_KEY
services:
  engine:
    heartbeat:
      interval: 100ms
      timeout: 300ms
"""


def issues_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(InvalidConfig) as caught:
        parse_config(text, source="t.yaml", env={"HB_KEY": "k", **(env or {})})
    return [issue.render("t.yaml") for issue in caught.value.issues]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "servics: {}\n",
            "t.yaml:1:1: servics: unknown key; did you mean 'services'?",
            id="unknown-key",
        ),
        pytest.param(
            BASE.replace("timeout: 300ms", "timout: 300ms"),
            "t.yaml:9:7: services.engine.heartbeat.timout: unknown key; did you mean 'timeout'?",
            id="misspelt-nested-key",
        ),
        pytest.param(
            BASE.replace("300ms", "3 seconds"),
            "t.yaml:9:7: services.engine.heartbeat.timeout: '3 seconds' is not a duration",
            id="bad-duration",
        ),
        pytest.param(
            "shutdown_timeout: 10\n",
            "t.yaml:1:1: shutdown_timeout: 10 has no unit; write e.g. 10ms or 10s",
            id="bare-number-duration",
        ),
        pytest.param(
            BASE.replace("300ms", "50ms"),
            "t.yaml:9:7: services.engine.heartbeat.timeout: must be greater than interval"
            " (100 ms); got 50 ms",
            id="timeout-not-above-interval",
        ),
        pytest.param(
            BASE.replace("interval: 100ms", "interval: 1s").replace("300ms", "500ms"),
            "t.yaml:9:7: services.engine.heartbeat.timeout: must be greater than interval"
            " (1 s); got 500 ms",
            id="timeout-not-above-slower-interval",
        ),
        pytest.param(
            "api:\n  read_requires_token: maybe\n",
            "t.yaml:2:3: api.read_requires_token: Input should be a valid boolean",
            id="wrong-type",
        ),
        pytest.param(
            "log:\n  level: loud\n",
            "t.yaml:2:3: log.level: Input should be 'debug', 'info', 'warning' or 'error';"
            " got 'loud'",
            id="bad-choice",
        ),
        pytest.param(
            "api:\n  listen: ${LISTEN_ADDR}\n",
            "t.yaml:2:3: api.listen: environment variable LISTEN_ADDR is not set",
            id="missing-env-var",
        ),
        pytest.param(
            "api:\n  listen: 127.0.0.1:9090\n  listen: 127.0.0.1:9091\n",
            "t.yaml:3:3: api.listen: duplicate key (first at line 2)",
            id="duplicate-key",
        ),
        pytest.param(
            BASE + "    depends_on: [exchange]\n",
            "services.engine.depends_on: unknown service 'exchange' (known: engine)",
            id="unknown-dependency",
        ),
        pytest.param(
            "services:\n  Engine 1: {}\n",
            "t.yaml:2:3: services.Engine 1: service name 'Engine 1' must be",
            id="bad-service-name",
        ),
        pytest.param(
            "api:\n  tokens:\n    - {name: ops, role: operator, token: hunter2hunter2hunter2}\n",
            "api.tokens[0].token: unknown key",
            id="inline-secret-refused",
        ),
        pytest.param(
            "api:\n  tokens:\n    - {name: ops, role: operator, token_env: OPS_TOKEN}\n",
            "api.tokens[0].token_env: environment variable OPS_TOKEN is not set",
            id="secret-env-missing",
        ),
        pytest.param(
            "services:\n  e:\n    process: {argv: [x], stop_signal: SIGSTOP}\n",
            "services.e.process.stop_signal: Input should be",
            id="bad-signal",
        ),
        pytest.param(
            "api: [1, 2\n",
            "t.yaml:2:1: (top level): YAML syntax:",
            id="yaml-syntax",
        ),
    ],
)
def test_each_mistake_is_located(text: str, expected: str) -> None:
    """A single mistake yields an error that names its key path (and line where it has one)."""
    found = issues_of(text)
    assert any(expected in line for line in found), found


def test_heartbeat_timeout_defaults_to_three_intervals() -> None:
    """An unset timeout follows the interval: a 1 s beat is not convicted 300 ms after a beat."""
    text = BASE.replace("interval: 100ms", "interval: 1s").replace("      timeout: 300ms\n", "")
    config = parse_config(text, env={"HB_KEY": "k"})
    heartbeat = config.services["engine"].heartbeat
    assert heartbeat is not None
    assert 3.0 == heartbeat.silence_timeout
    default = parse_config(BASE.replace("      timeout: 300ms\n", ""), env={"HB_KEY": "k"})
    assert default.services["engine"].heartbeat is not None
    assert 0.3 == pytest.approx(default.services["engine"].heartbeat.silence_timeout)


def test_all_mistakes_reported_at_once() -> None:
    """A file with several mistakes reports all of them, in file order, not just the first."""
    text = "servics: {}\nlog:\n  level: loud\nshutdown_timeout: 5\n"
    found = issues_of(text)
    expected = ["servics", "log.level", "shutdown_timeout"]
    assert expected == [line.split(": ")[1] for line in found]


def test_env_expansion_defaults_and_escape() -> None:
    """${VAR} expands, ${VAR:-default} falls back, $$ is a literal dollar, YAML is not injected."""
    text = (
        "api:\n  listen: ${ADDR:-127.0.0.1:9191}\n"
        "services:\n  e:\n    description: 'costs $$5 ${WHO}'\n"
    )
    config = parse_config(text, env={"WHO": "a: b\nc: d"})
    assert "127.0.0.1:9191" == config.api.listen
    assert "costs $5 a: b\nc: d" == config.services["e"].description


def test_secrets_resolved_but_never_shown(tmp_path: Path) -> None:
    """Tokens are read from env or file, and the value never appears in repr or dumps."""
    (tmp_path / "t").write_text("file-token-0123456789\n")
    text = (
        "api:\n  tokens:\n"
        "    - {name: a, role: admin, token_env: A_TOKEN}\n"
        "    - {name: b, role: viewer, token_file: t}\n"
    )
    config = parse_config(text, env={"A_TOKEN": "env-token-0123456789"}, base_dir=tmp_path)
    assert "env-token-0123456789" == config.api.tokens[0].secret.get_secret_value()
    assert "file-token-0123456789" == config.api.tokens[1].secret.get_secret_value()
    shown = repr(config) + config.model_dump_json()
    assert "env-token" not in shown
    assert "file-token" not in shown


def test_demo_config_is_valid() -> None:
    """The config `make demo` runs is valid as shipped."""
    config = load_config(REPO / "examples" / "demo.yaml", env={})
    assert "127.0.0.1" == config.api.host
    assert {"engine"} == set(config.services)


def test_cli_config_check(tmp_path: Path) -> None:
    """`paramedic config check` prints ok, or every error and exits 1."""
    from typer.testing import CliRunner

    from paramedic.cli.main import app

    good = tmp_path / "good.yaml"
    good.write_text("services: {}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("servics: {}\nshutdown_timeout: 5\n")
    runner = CliRunner()
    ok = runner.invoke(app, ["config", "check", str(good)])
    assert 0 == ok.exit_code
    assert (
        f"warning: {good}:1:1: channels: no channel other than the log is configured: every"
        " notification goes to the log\nok (1 warning(s))\n"
    ) == ok.output
    failed = runner.invoke(app, ["config", "check", str(bad)])
    assert 1 == failed.exit_code
    assert f"{bad}:1:1: servics: unknown key" in failed.output
    assert "2 error(s)" in failed.output


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("100ms", 0.1),
        ("5s", 5.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("250us", 0.00025),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    """Durations parse with their unit (how messages spell them: tests/unit/test_text.py)."""
    assert pytest.approx(seconds) == parse_duration(text)


@pytest.mark.parametrize("text", ["", "5", "ms", "5 s", "-1s", "1.s", "5sec"])
def test_bad_durations(text: str) -> None:
    """Anything but number+unit is refused with a hint."""
    with pytest.raises(ValueError, match="unit"):
        parse_duration(text)
