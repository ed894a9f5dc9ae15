"""A secret file named in the config (`token_file`, `key_file`, a channel's `*_file`) is read
bounded: a device, a pipe or a huge file is a located error, never a hang or a MemoryError
(found while building the config fuzzer, tests/torture/test_fuzz_parsers.py, whose
path values now include /dev/zero)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from paramedic.config import InvalidConfig, parse_config
from paramedic.config.types import MAX_SECRET_BYTES


def tokens(file: str) -> str:
    return f"api:\n  tokens: [{{name: a, role: viewer, token_file: {file}}}]\n"


def test_dev_zero_as_a_token_file_is_a_located_error_not_a_memory_error() -> None:
    """`token_file: /dev/zero` used to be read until memory ran out (MemoryError traceback
    from `paramedic config check`). Run with a 1 GiB address-space limit so the old
    behaviour fails fast here instead of eating the machine."""
    program = textwrap.dedent(
        f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from paramedic.config import InvalidConfig, parse_config
        try:
            parse_config({tokens("/dev/zero")!r})
        except InvalidConfig as exc:
            print(exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert 0 == result.returncode, result.stderr[-2000:]
    expected = ":2:36: api.tokens[0].token_file: /dev/zero is not a regular file"
    assert expected in result.stdout


def test_a_fifo_as_a_key_file_is_refused_without_blocking(tmp_path: Path) -> None:
    """Opening a FIFO for reading blocks until a writer comes: it is refused before that."""
    fifo = tmp_path / "key"
    os.mkfifo(fifo)
    with pytest.raises(InvalidConfig, match=r"heartbeat.key_file: .* is not a regular file"):
        parse_config(f"heartbeat: {{key_file: {fifo}}}\n")


def test_an_oversized_secret_file_is_refused(tmp_path: Path) -> None:
    """A secret is a short line; a file past MAX_SECRET_BYTES is named, not loaded."""
    big = tmp_path / "token"
    big.write_text("t" * (MAX_SECRET_BYTES + 1))
    with pytest.raises(InvalidConfig, match=r"token_file: .* is larger than 64 KiB"):
        parse_config(tokens(str(big)))
    big.write_text("t" * MAX_SECRET_BYTES)
    assert 1 == len(parse_config(tokens(str(big))).api.tokens)


def test_a_secret_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    """Binary bytes in a token file: a sentence naming the file, not a codec's message."""
    binary = tmp_path / "token"
    binary.write_bytes(b"\xff" * 20)
    with pytest.raises(InvalidConfig, match=r"token_file: .* is not UTF-8 text"):
        parse_config(tokens(str(binary)))
