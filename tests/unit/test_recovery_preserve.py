"""Preserving failed state: copies, manifest, missing paths, refused symlinks, size cap."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from paramedic.config.recovery_plan import PreserveConfig
from paramedic.recovery.preserve import preserve_state

WALL = 1_767_225_600.0  # 2026-01-01T00:00:00Z
INCIDENT = "inc_01jgxyz0000000000000abc123"


@pytest.fixture
def service_files(tmp_path: Path) -> dict[str, Path]:
    logs = tmp_path / "var" / "log" / "trading"
    (logs / "old").mkdir(parents=True)
    (logs / "engine.log").write_text("order 1 filled\ncrash\n")
    (logs / "old" / "engine.log.1").write_text("yesterday\n")
    state = tmp_path / "var" / "lib" / "state.bin"
    state.parent.mkdir(parents=True)
    state.write_bytes(b"\x00\x01checkpoint")
    return {"logs": logs, "state": state, "root": tmp_path}


def config(paths: list[Path], snapshots: Path, **extra: Any) -> PreserveConfig:
    return PreserveConfig.model_validate(
        {"paths": [str(p) for p in paths], "snapshot_dir": str(snapshots), **extra}
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_snapshot_holds_files_and_directory_with_manifest(
    service_files: dict[str, Path], tmp_path: Path
) -> None:
    """A file and a directory are copied under files/<absolute path>, hashed in the manifest."""
    logs, state = service_files["logs"], service_files["state"]
    missing = tmp_path / "nope"
    snap = await preserve_state(
        config([logs, state, missing], tmp_path / "snaps"),
        service="engine",
        incident_id=INCIDENT,
        wall=WALL,
    )
    assert tmp_path / "snaps" / "engine-20260101T000000Z-abc123" == snap.folder
    manifest = json.loads((snap.folder / "manifest.json").read_text())
    rel = Path("files") / logs.relative_to("/")
    expected_files = [
        {
            "source": str(logs / "engine.log"),
            "path": str(rel / "engine.log"),
            "size": 21,
            "sha256": sha(b"order 1 filled\ncrash\n"),
        },
        {
            "source": str(logs / "old" / "engine.log.1"),
            "path": str(rel / "old" / "engine.log.1"),
            "size": 10,
            "sha256": sha(b"yesterday\n"),
        },
        {
            "source": str(state),
            "path": str(Path("files") / state.relative_to("/")),
            "size": 12,
            "sha256": sha(b"\x00\x01checkpoint"),
        },
    ]
    assert expected_files == manifest["files"]
    assert [str(missing)] == manifest["missing"]
    assert "2026-01-01T00:00:00Z" == manifest["created_at"]
    for entry in expected_files:
        assert entry["sha256"] == sha((snap.folder / str(entry["path"])).read_bytes())
    assert (
        f"preserved 3 files (43 bytes) in {snap.folder}; missing: {missing};"
        " core dump skipped: disabled in config (preserve.gcore)"
    ) == snap.sentence


async def test_symlink_escaping_a_directory_is_refused(
    service_files: dict[str, Path], tmp_path: Path
) -> None:
    """A symlink inside a copied directory pointing outside it is refused, not followed."""
    secret = tmp_path / "secret.key"
    secret.write_text("do not copy")
    logs = service_files["logs"]
    (logs / "evil.log").symlink_to(secret)
    (logs / "inside.log").symlink_to(logs / "engine.log")
    snap = await preserve_state(
        config([logs], tmp_path / "snaps"), service="engine", incident_id=INCIDENT, wall=WALL
    )
    expected = [{"path": str(logs / "evil.log"), "reason": f"symlink escapes {logs} (to {secret})"}]
    assert expected == snap.refused
    assert ["engine.log", "inside.log", "engine.log.1"] == [Path(f.path).name for f in snap.files]
    assert [] == list(snap.folder.rglob("secret.key")) + list(snap.folder.rglob("evil.log"))


async def test_size_cap_refuses_what_does_not_fit(
    service_files: dict[str, Path], tmp_path: Path
) -> None:
    """Files beyond the size cap are refused with the reason; the rest is kept."""
    snap = await preserve_state(
        config([service_files["state"], service_files["logs"]], tmp_path / "snaps", max_bytes=15),
        service="engine",
        incident_id=INCIDENT,
        wall=WALL,
    )
    assert [12] == [f.size for f in snap.files]
    assert [
        "size cap of 15 bytes reached (21 bytes more)",
        "size cap of 15 bytes reached (10 bytes more)",
    ] == [r["reason"] for r in snap.refused]


async def test_gcore_skipped_with_a_reason_when_absent(
    service_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With gcore asked for but not on PATH, the snapshot says why there is no core dump."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    snap = await preserve_state(
        config([service_files["state"]], tmp_path / "snaps", gcore=True),
        service="engine",
        incident_id=INCIDENT,
        wall=WALL,
        pid=12345,
    )
    note = "core dump skipped: gcore is not installed (apt install gdb)"
    assert (None, note) == (snap.core, snap.core_note)
    assert note == json.loads((snap.folder / "manifest.json").read_text())["core_note"]
