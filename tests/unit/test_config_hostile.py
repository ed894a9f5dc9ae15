"""Hostile config files (issue 10, defect 7): every one is refused with a located error, fast,
and never with a traceback; the loader takes any bytes to a Config or an InvalidConfig."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from paramedic.cli.main import app
from paramedic.config import Config, InvalidConfig, parse_config_bytes
from paramedic.config.yaml_guard import MAX_CONFIG_BYTES, MAX_DEPTH

REPO = Path(__file__).resolve().parents[2]

LAUGHS = "".join(
    f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]\n"
    for i in range(1, 8)
)
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + LAUGHS


def check(tmp_path: Path, data: bytes) -> tuple[int, str]:
    """`paramedic config check` on a file holding `data`: (exit code, all output)."""
    file = tmp_path / "hostile.yaml"
    file.write_bytes(data)
    result = CliRunner().invoke(app, ["config", "check", str(file)])
    return result.exit_code, result.output


HOSTILE: list[tuple[str, bytes, str]] = [
    ("recursive-alias", b"a: &a [*a]\n", ":1:4: (top level): recursive alias"),
    (
        "recursive-merge",
        b"services: &s\n  engine:\n    <<: *s\n",
        ":1:11: (top level): recursive alias",
    ),
    ("alias-bomb", BOMB.encode(), "expands to more than 250,000 YAML nodes"),
    ("empty", b"", ":1:1: (top level): the file is empty: a config needs at least one section"),
    ("only-comments", b"# nothing yet\n", ":1:1: (top level): the file is empty"),
    (
        "invalid-utf8",
        b"services:\n  e\xffngine: {}\n",
        ":2:4: (top level): not UTF-8 text: byte 0xff",
    ),
    (
        "binary",
        bytes(range(256)) * 4,
        ":2:118: (top level): not UTF-8 text: byte 0x80 at offset 128",
    ),
    ("control-char", b"a: 1\n\x01b: 2\n", ":2:1: (top level): YAML syntax: character #x0001"),
    ("tab-indent", b"services:\n\tengine: {}\n", ":2:1: (top level): YAML syntax: found character"),
    ("deep-flow", b"services: " + b"[" * 990 + b"]" * 990, f"more than {MAX_DEPTH} levels"),
    ("deeper-flow", b"[" * 100_000, "YAML syntax: exceeded maximum nesting depth"),
    (
        "bad-date",
        b"services: {engine: {}}\nwhen: 2001-13-45\n",
        ":2:7: (top level): YAML syntax: cannot read this value",
    ),
    (
        "huge-int",
        b"services: {engine: {}}\nn: " + b"9" * 5000 + b"\n",
        ":2:4: (top level): YAML syntax: cannot read this value",
    ),
    ("python-tag", b"a: !!python/object/apply:os.system [id]\n", ":1:4: (top level): YAML syntax"),
    ("too-big", b"#" * (MAX_CONFIG_BYTES + 1), "yaml: (top level): the file is larger than 8 MiB"),
]


@pytest.mark.parametrize(
    ("data", "expected"), [(d, e) for _, d, e in HOSTILE], ids=[n for n, _, _ in HOSTILE]
)
def test_hostile_file_is_a_located_error_never_a_traceback(
    tmp_path: Path, data: bytes, expected: str
) -> None:
    """Each hostile file: exit 1, a `FILE:LINE:COL: path: sentence` naming the problem (only
    the too-big file has no position), and no traceback."""
    code, output = check(tmp_path, data)
    assert 1 == code, output
    assert "Traceback" not in output
    shown = f"{tmp_path / 'hostile.yaml'}{expected}" if expected.startswith(":") else expected
    assert shown in output, output


@pytest.mark.parametrize("text", [b"services: {engine: {}}\n", b"services: {}\n", b"api: {}\n"])
def test_a_config_with_one_section_is_valid(tmp_path: Path, text: bytes) -> None:
    """Any one section makes a config (an alerting-only paramedic supervises nothing); the
    check may warn (no channel but the log) but passes."""
    code, output = check(tmp_path, text)
    assert 0 == code, output
    assert output.splitlines()[-1].startswith("ok")


def test_billion_laughs_is_refused_quickly_by_the_real_cli(tmp_path: Path) -> None:
    """A 307-byte alias bomb (9^8 leaves) is refused in seconds by `paramedic config check`
    (before: more than a minute and gigabytes; killed here after 30 s)."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    result = subprocess.run(
        [sys.executable, "-m", "paramedic.cli", "config", "check", str(bomb)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert 1 == result.returncode
    assert "expands to more than 250,000 YAML nodes" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_empty_file_is_refused_by_the_real_cli_check_and_run(tmp_path: Path) -> None:
    """An empty (truncated) file: `paramedic config check` and `paramedic run` as processes
    both exit 1 with the located sentence, never `ok` nor a start on all defaults."""
    empty = tmp_path / "empty.yaml"
    empty.write_bytes(b"")
    said = f"{empty}:1:1: (top level): the file is empty: a config needs at least one section"
    for command in (["config", "check", str(empty)], ["run", "--config", str(empty)]):
        result = subprocess.run(
            [sys.executable, "-m", "paramedic.cli", *command],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert (1, "") == (result.returncode, result.stdout), command
        assert said in result.stderr, (command, result.stderr)
        assert "Traceback" not in result.stderr


def _outcome(data: bytes) -> None:
    """The property: a Config, or an InvalidConfig whose every issue has a line and column."""
    try:
        config = parse_config_bytes(data, source="h.yaml", env={}, base_dir=REPO)
    except InvalidConfig as exc:
        issues = exc.issues
    else:
        assert isinstance(config, Config)
        return
    assert issues
    for issue in issues:
        assert issue.line is not None, issue
        assert issue.column is not None, issue


FRAGMENTS = [
    "services:",
    "\n",
    "  ",
    "\t",
    "engine:",
    " ",
    "&a",
    "*a",
    "&b",
    "*b",
    "<<: *a",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "- ",
    "? ",
    "'",
    '"',
    "#",
    "${X}",
    "${",
    "$$",
    "2001-13-45",
    "1e400",
    "9" * 50,
    "-.inf",
    ".nan",
    "!!binary",
    "!!python/name:os.system",
    "!!str",
    "~",
    "null",
    "process:",
    "argv: [x]",
    "heartbeat:",
    "interval: 100ms",
    "timeout: 5",
    "watch:",
    "pid: -1",
    "api:",
    "tokens:",
    "listen: 1:2:3",
    "---",
    "...",
    "%YAML 1.1",
    "\x00",
    "\ufeff",
    "é",
    "\r",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_any_bytes_give_a_config_or_a_located_error(data: bytes) -> None:
    """Random bytes: never an exception other than InvalidConfig, always located."""
    _outcome(data)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=60))
def test_yaml_shaped_input_gives_a_config_or_a_located_error(parts: list[str]) -> None:
    """Text built from YAML's and the config's own tokens (anchors, aliases, merges, tags,
    flow brackets, odd scalars) reaches the deeper layers; same property."""
    _outcome("".join(parts).encode("utf-8", "surrogatepass"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_demo_config_gives_a_config_or_a_located_error(data: st.DataObject) -> None:
    """The shipped demo config with bytes deleted, replaced or inserted; same property."""
    demo = bytearray((REPO / "examples" / "demo.yaml").read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(demo)))
        action = data.draw(st.sampled_from(["delete", "replace", "insert"]))
        byte = data.draw(st.binary(min_size=1, max_size=3))
        if action == "delete":
            del demo[at : at + len(byte)]
        elif action == "replace":
            demo[at : at + len(byte)] = byte
        else:
            demo[at:at] = byte
    _outcome(bytes(demo))


@pytest.mark.parametrize(
    ("data", "expected"),
    [(d, e) for n, d, e in HOSTILE if n in ("recursive-alias", "empty", "alias-bomb")],
)
def test_run_uses_the_same_loader(tmp_path: Path, data: bytes, expected: str) -> None:
    """`paramedic run` refuses the same files the same way: exit 1, located, no traceback."""
    file = tmp_path / "hostile.yaml"
    file.write_bytes(data)
    result = CliRunner().invoke(app, ["run", "--config", str(file)])
    assert 1 == result.exit_code, result.output
    assert "Traceback" not in result.output
    assert (f"{file}{expected}" if expected.startswith(":") else expected) in result.output
