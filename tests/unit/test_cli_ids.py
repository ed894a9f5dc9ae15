"""Ids a user types: any unique prefix; an ambiguous one lists the candidates and fails."""

from __future__ import annotations

import asyncio
import json

import pytest
import typer

from paramedic.cli._http import unique

IDS = ["inc_01ab:failure", "inc_01ac:failure", "inc_02xx:failure"]


def test_an_exact_id_wins_even_when_it_prefixes_another() -> None:
    """`inc_1` exists and so does `inc_10`: typing `inc_1` means `inc_1`."""
    assert "inc_1" == unique("inc_1", ["inc_10", "inc_1"], "incident")


def test_a_unique_prefix_is_the_one_id() -> None:
    assert "inc_02xx:failure" == unique("inc_02", IDS, "open alert")


def test_an_unknown_prefix_is_passed_on_for_the_api_to_answer() -> None:
    """The API's 404 names the id; the CLI does not guess."""
    assert "nope" == unique("nope", IDS, "open alert")


def test_an_ambiguous_prefix_lists_every_candidate(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as ended:
        unique("inc_01a", IDS, "open alert")
    assert 2 == ended.value.exit_code
    err = capsys.readouterr().err
    assert "'inc_01a' matches 2 open alerts" in err
    assert "inc_01ab:failure" in err
    assert "inc_01ac:failure" in err
    assert "inc_02xx" not in err


async def test_a_whole_id_is_used_as_given_without_fetching_the_list() -> None:
    """`paramedic incident` and `silence expire` with a whole id make the one call they are
    for; a prefix first fetches the list to resolve it."""
    from typer.testing import CliRunner

    from paramedic.alerting.channels.loopback import LoopbackReceiver
    from paramedic.cli.main import app

    whole = "inc_01kzzzzzzzzzzzzzzzzzzzzzza"
    async with LoopbackReceiver(reply="{}") as api:
        env = {"PARAMEDIC_URL": api.url}
        for args in (["incident", whole, "--json"], ["silence", "expire", "sil_" + whole[4:]]):
            result = await asyncio.to_thread(CliRunner().invoke, app, args, env=env)
            assert 0 == result.exit_code, result.output
        prefix = ["incident", "inc_01k", "--json"]
        result = await asyncio.to_thread(CliRunner().invoke, app, prefix, env=env)
        assert 0 == result.exit_code, result.output
        assert [
            ("GET", f"/api/incidents/{whole}"),
            ("DELETE", "/api/silences/sil_01kzzzzzzzzzzzzzzzzzzzzzza"),
            ("GET", "/api/incidents"),
            ("GET", "/api/incidents/inc_01k"),
        ] == [(r.method, r.path) for r in api.requests]


async def test_a_503_is_an_error_not_a_success() -> None:
    """The API answers 503 when the store cannot record a call (nothing was done): `approve`
    and `ack` say so and exit 2; they used to print `approved ...` and exit 0. `status` still
    shows an unhealthy paramedic's 503 body (exit 1)."""
    from typer.testing import CliRunner

    from paramedic.alerting.channels.loopback import LoopbackReceiver
    from paramedic.cli.main import app

    refusal = "cannot record the audit trail; nothing was done"
    whole = "inc_01kzzzzzzzzzzzzzzzzzzzzzza"
    async with LoopbackReceiver(status=503, reply=f'{{"detail": "{refusal}"}}') as api:
        env = {"PARAMEDIC_URL": api.url}
        for args in (["approve", whole, "-r", "go"], ["ack", whole + ":failure", "-r", "mine"]):
            result = await asyncio.to_thread(CliRunner().invoke, app, args, env=env)
            assert (2, f"paramedic: 503: {refusal}\n") == (result.exit_code, result.output), args
    async with LoopbackReceiver(status=503, reply='{"healthy": false, "components": {}}') as api:
        env = {"PARAMEDIC_URL": api.url}
        result = await asyncio.to_thread(CliRunner().invoke, app, ["status", "--json"], env=env)
        assert 1 == result.exit_code, result.output
        assert {"healthy": False, "components": {}} == json.loads(result.output)


async def test_an_alert_id_from_a_page_reaches_its_incident() -> None:
    """The inbox and the pages show alert ids (`inc_...:approval:evt_...`); an operator who
    pastes one into `approve` or `incident report` acts on that incident (it used to be a 404,
    "no incident 'inc_...:failure'"). Text that is not an incident's alert id is untouched."""
    from typer.testing import CliRunner

    from paramedic.alerting.channels.loopback import LoopbackReceiver
    from paramedic.cli._http import incident_of
    from paramedic.cli.main import app

    whole = "inc_01kzzzzzzzzzzzzzzzzzzzzzza"
    async with LoopbackReceiver(reply="{}") as api:
        env = {"PARAMEDIC_URL": api.url}
        for args in (
            ["approve", whole + ":approval:evt_01kyyyyyyyyyyyyyyyyyyyyyyy", "-r", "go"],
            ["incident", "report", whole + ":failure", "--format", "json"],
        ):
            result = await asyncio.to_thread(CliRunner().invoke, app, args, env=env)
            assert 0 == result.exit_code, result.output
        assert [
            ("POST", f"/api/incidents/{whole}/approve"),
            ("GET", f"/api/incidents/{whole}/report?format=json"),
        ] == [(r.method, r.path) for r in api.requests]
    assert "test:01abc" == incident_of("test:01abc")
    assert "inc_01k" == incident_of("inc_01k")
