"""What a new user hits with the real CLI against a real `paramedic run`: a missing or wrong
token says what to set, and changes nothing; `drill list` prints drill ids whole (in an
80-column terminal too) and `drill report` takes a unique prefix of one, like every other id."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.integration.runner import RunningParamedic, run_cli
from tests.integration.test_operator_cli_real import TOKENS, write_config

pytestmark = pytest.mark.integration


async def cli(url: str, token: str | None, *args: str) -> tuple[int, str, str]:
    """`python -m paramedic.cli ARGS` in an 80-column terminal, PARAMEDIC_TOKEN as given."""
    return await run_cli(url, *args, token=token, columns=80)


async def test_a_refused_token_says_what_to_set_and_drill_ids_are_whole(tmp_path: Path) -> None:
    """Without PARAMEDIC_TOKEN, `paramedic drill engine` is refused (exit 2) with the API's
    reason and the variable to set; with a wrong one, the message says the token is not one
    of the api.tokens of the paramedic at that URL. Neither started a drill. With the
    operator token the drill starts; `drill list` in 80 columns shows its id in full, and
    `drill report` with the first 10 characters of it prints that drill's report."""
    p = RunningParamedic(write_config(tmp_path, ""), env=TOKENS)
    try:
        url = await asyncio.to_thread(p.wait_started)
        code, out, err = await cli(url, None, "drill", "engine", "--kind", "crash")
        assert (2, "") == (code, out)
        assert (
            "paramedic: 401: this endpoint needs a bearer token with role operator or higher;"
            " give one in PARAMEDIC_TOKEN (or a file: --token-file)\n"
        ) == err
        code, out, err = await cli(url, "not-a-token", "drill", "engine", "--kind", "crash")
        assert (2, "") == (code, out)
        assert (
            "paramedic: 401: unknown bearer token; the token in PARAMEDIC_TOKEN (or a file:"
            f" --token-file) is not one of the api.tokens of the paramedic at {url}\n"
        ) == err
        assert [] == p.get("/api/drills").json()["drills"], "a refused call changes nothing"

        code, out, err = await cli(
            url, TOKENS["OPS_T"], "drill", "engine", "--kind", "crash", "--no-wait"
        )
        assert 0 == code, err
        drill = out.strip()
        assert ("drl_", 30) == (drill[:4], len(drill)), drill
        code, out, err = await cli(url, TOKENS["OPS_T"], "drill", "list")
        assert 0 == code, err
        assert drill in out.split(), out
        code, out, err = await cli(url, TOKENS["OPS_T"], "drill", "report", drill[:10])
        assert 0 == code, err
        assert out.startswith(f"# Drill {drill}: crash of engine\n"), out
    finally:
        await asyncio.to_thread(p.ensure_dead)
