"""Ids a user types: any unique prefix; an ambiguous one lists the candidates and fails."""

from __future__ import annotations

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
