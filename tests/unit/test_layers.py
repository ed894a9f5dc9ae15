"""The layering contracts (pyproject.toml's [tool.importlinter]) hold on the real tree, and
the same contracts fail on a package with one wrong import, naming it.

The second test is what makes the first worth anything: a contract that cannot fail (a typo
in a module name, a wildcard that matches nothing) would also "pass".
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "layers"
FIXTURE_ROOT = "paramedic_fixture"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(*args: str, cwd: Path, pythonpath: Path | None = None) -> tuple[int, str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def contracts_for_fixture() -> str:
    """The real contracts, moved onto the fixture package, as a pyproject.toml.

    The `ignore_imports` of the real tree (the known violations other parts remove, and
    config's allowed imports of core) are kept but may match nothing in the fixture."""
    real = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["tool"]["importlinter"]

    def move(value: Any) -> Any:
        if isinstance(value, list):
            return [move(v) for v in value]
        if not isinstance(value, str):
            return value  # a flag: allow_indirect_imports
        return re.sub(r"(?<![\w.])paramedic(?=\.|$)", FIXTURE_ROOT, value)

    lines = ["[tool.importlinter]", f"root_package = {json.dumps(FIXTURE_ROOT)}", ""]
    for contract in real["contracts"]:
        lines.append("[[tool.importlinter.contracts]]")
        for key, value in contract.items():
            kept = value if key in ("id", "name", "type") else move(value)
            lines.append(f"{key} = {json.dumps(kept)}")
        if "unmatched_ignore_imports_alerting" not in contract:
            lines.append('unmatched_ignore_imports_alerting = "none"')
        lines.append("")
    return "\n".join(lines)


def test_the_real_tree_keeps_every_contract() -> None:
    """`make test` runs the same command: every contract of pyproject.toml is kept."""
    code, out = lint_imports(cwd=REPO)
    assert 0 == code, out
    assert re.search(r"Contracts: \d+ kept, 0 broken\.", out), out


def test_one_wrong_import_breaks_its_contract_and_is_named(tmp_path: Path) -> None:
    """In the fixture package, config imports alerting (as paramedic's config once did): the
    real contracts, run on it, fail; the output names the contract and the offending import
    with its line, and every other contract is kept."""
    config = tmp_path / "pyproject.toml"
    config.write_text(contracts_for_fixture(), "utf-8")

    code, out = lint_imports(str(config), cwd=tmp_path, pythonpath=FIXTURES)

    assert 1 == code, out
    assert "config imports only core BROKEN" in out, out
    wrong = f"{FIXTURE_ROOT}.config.model -> {FIXTURE_ROOT}.alerting.model (l.4)"
    assert wrong in out, out
    contracts = len(tomllib.loads(config.read_text("utf-8"))["tool"]["importlinter"]["contracts"])
    assert f"Contracts: {contracts - 1} kept, 1 broken." in out, out
