"""The live API fuzzed from its own OpenAPI (schemathesis): no input answers 5xx.

Runs Schemathesis's CLI against a real `paramedic run` with a supervised child, as an
operator, as a viewer and without a token. `make torture` sets PARAMEDIC_TORTURE=long for
many more examples per operation (docs/reliability.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.runner import RunningParamedic
from tests.torture import examples_per_operation, long_run

pytestmark = pytest.mark.integration

OPERATOR = "operator-token-0123456789"
VIEWER = "viewer-token-0123456789"

CONFIG = f"""
store: {{path: fuzz.db}}
api:
  listen: 127.0.0.1:0
  tokens:
    - {{name: olga, role: operator, token_env: OPS_TOKEN}}
    - {{name: vic, role: viewer, token_env: VIEW_TOKEN}}
services:
  engine:
    tier: 1
    process:
      argv: [{sys.executable!r}, "-c", "import signal; signal.pause()"]
"""


def schemathesis_cli() -> str:
    found = shutil.which("st", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("schemathesis is a dev dependency: `st` should be beside the interpreter")
    return found


# The long run (1,000 examples per operation) takes tens of minutes per token.
@pytest.mark.timeout(3600 if long_run() else 300)
@pytest.mark.parametrize("token", [OPERATOR, VIEWER, None], ids=["operator", "viewer", "none"])
def test_no_generated_request_answers_5xx(tmp_path: Path, token: str | None) -> None:
    """Every operation, every phase (examples, coverage, fuzzing, stateful): 0 server errors."""
    config = tmp_path / "fuzz.yaml"
    config.write_text(CONFIG)
    paramedic = RunningParamedic(config, env={"OPS_TOKEN": OPERATOR, "VIEW_TOKEN": VIEWER})
    try:
        url = paramedic.wait_started()
        headers = ["-H", f"Authorization: Bearer {token}"] if token else []
        found = subprocess.run(
            [
                *(schemathesis_cli(), "run", f"{url}/openapi.json"),
                *("--checks", "not_a_server_error", "--seed", "20261206"),
                *("--max-examples", str(examples_per_operation())),
                *("--report-dir", str(tmp_path / "report"), "--request-timeout", "10", *headers),
            ],
            capture_output=True,
            text=True,
            timeout=3500 if long_run() else 280,
            cwd=tmp_path,
            env={**os.environ, "NO_COLOR": "1"},
        )
        assert 0 == found.returncode, found.stdout[-6000:] + found.stderr[-2000:]
        assert paramedic.proc.poll() is None, "paramedic died under the fuzzer"
    finally:
        paramedic.ensure_dead()
