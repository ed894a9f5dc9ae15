"""The CLI's bearer token comes from a file or the environment, never from an argument (a
token on the command line is in `ps` and the shell's history)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from typer.testing import CliRunner

from paramedic.alerting.channels.loopback import LoopbackReceiver
from paramedic.cli.main import app

TOKEN = "operator-token-0123456789"


async def test_the_token_is_read_from_a_file_or_the_environment(tmp_path: Path) -> None:
    """`--token-file` and PARAMEDIC_TOKEN_FILE read the file (trailing newline dropped);
    PARAMEDIC_TOKEN is used as it is; each reaches the API as the bearer token."""
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    async with LoopbackReceiver(reply='{"alerts": []}') as api:
        runs = [
            (["alerts", "--json", "--token-file", str(path)], {}),
            (["alerts", "--json"], {"PARAMEDIC_TOKEN_FILE": str(path)}),
            (["alerts", "--json"], {"PARAMEDIC_TOKEN": TOKEN}),
        ]
        for args, env in runs:
            env = {"PARAMEDIC_URL": api.url, **env}
            result = await asyncio.to_thread(CliRunner().invoke, app, args, env=env)
            assert 0 == result.exit_code, result.output
        assert [f"Bearer {TOKEN}"] * 3 == [r.headers.get("Authorization") for r in api.requests]


def test_a_token_argument_is_refused_and_a_bad_file_is_named(tmp_path: Path) -> None:
    """`--token SECRET` is no option; a missing or empty token file is an error naming the
    option and the file, and nothing is sent."""
    env = {"PARAMEDIC_URL": "http://127.0.0.1:9"}
    refused = CliRunner().invoke(app, ["alerts", "--token", TOKEN], env=env)
    assert 2 == refused.exit_code
    assert "No such option: --token" in refused.output
    assert TOKEN not in refused.output
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path, said in ((tmp_path / "missing", "cannot read the token file"), (empty, "is empty")):
        result = CliRunner().invoke(app, ["alerts", "--token-file", str(path)], env=env)
        assert 2 == result.exit_code, result.output
        assert "--token-file" in result.output
        assert said in re.sub(r"[│\s]+", " ", result.output)  # the box folds lines
