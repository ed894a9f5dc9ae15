"""`paramedic incident` as a group: `incident ID` still shows the incident, `report` and
`lessons` refuse wrong arguments before calling anyone (exit 2 with the fix to make)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from paramedic.cli.main import app

# Nothing listens here: an argument error must be reported before any call is attempted.
NOWHERE = "http://127.0.0.1:9"
INC = "inc_01jx000000000000000000000a"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--url", NOWHERE])
    return result.exit_code, result.output


def test_lessons_need_text_or_a_file_not_both_nor_neither(tmp_path: Path) -> None:
    """Neither TEXT nor --file, or both: exit 2 saying to give one of the two; an unreadable
    --file names it."""
    said = "give the lessons as TEXT or with --file, one of the two"
    assert said in run("incident", "lessons", INC)[1]
    both = run("incident", "lessons", INC, "text", "--file", str(tmp_path / "x"))
    assert (2, True) == (both[0], said in both[1])
    code, out = run("incident", "lessons", INC, "--file", str(tmp_path / "missing.md"))
    assert 2 == code
    assert f"--file: cannot read {tmp_path / 'missing.md'}" in out


def test_report_format_is_md_or_json() -> None:
    """--format pdf: exit 2 naming the choices."""
    assert (2, "paramedic: --format: md or json, not 'pdf'\n") == run(
        "incident", "report", INC, "--format", "pdf"
    )


def test_an_incident_id_first_still_means_show() -> None:
    """`paramedic incident ID` is `incident show ID`: it calls the incident's API (here,
    nobody answers, so it says it cannot reach paramedic) rather than calling ID a command."""
    code, out = run("incident", INC)
    assert 2 == code
    assert f"cannot reach {NOWHERE}" in out
