"""Preserve the failed state before recovering (seed 7.4): the evidence goes first.

A restart overwrites logs, truncates state files and replaces the process whose memory held
the bug. So before a recovery acts, the service's own output (the log files paramedic
captured) and the configured state paths are copied into a folder of their own,
`<snapshot_dir>/<service>-<method>-<UTC time>-<incident short id>/`, with a
`manifest.json` that says what was copied (size, sha256), what was missing and what was
refused. Optionally `gcore` dumps the process's memory.

Rules that keep this from doing harm: nothing runs through a shell (the seed's `system("cp -r
...")` is one odd file name away from trouble); a symlink inside a copied directory that points
outside it is refused, not followed; a size cap stops a runaway log from filling the disk the
recovery needs. Copying is disk I/O and runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from paramedic.config.recovery_plan import PreserveConfig
from paramedic.core.ids import short_id
from paramedic.core.text import duration

__all__ = ["CopiedFile", "Snapshot", "preserve_state"]

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class CopiedFile:
    source: str
    path: str  # relative to the snapshot folder
    size: int
    sha256: str


@dataclass(slots=True)
class Snapshot:
    """What was kept, and one sentence for the incident timeline."""

    folder: Path
    files: list[CopiedFile] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    core: str | None = None
    core_note: str = "core dump not requested"
    total_bytes: int = 0
    sentence: str = ""


def _stamp(wall: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall))


def _copy_file(source: Path, dest: Path) -> tuple[int, str]:
    """Copy while hashing: one read of a large log, not two."""
    digest = hashlib.sha256()
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as src, dest.open("xb") as out:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    shutil.copystat(source, dest, follow_symlinks=False)
    return size, digest.hexdigest()


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _collect(root: Path) -> list[tuple[Path, str | None]]:
    """Files under `root` (a file or a directory), each with a refusal reason or None."""
    if root.is_file():
        return [(root, None)]
    found: list[tuple[Path, str | None]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        for name in sorted(dirnames):
            sub = here / name
            if sub.is_symlink():  # os.walk does not descend, but say so rather than skip silently
                found.append((sub, "symlink to a directory, not followed"))
        for name in sorted(filenames):
            path = here / name
            if path.is_symlink():
                target = path.resolve()
                if not _within(target, root):
                    found.append((path, f"symlink escapes {root} (to {target})"))
                    continue
                if not target.is_file():
                    found.append((path, "symlink to something that is not a file"))
                    continue
            elif not path.is_file():
                found.append((path, "not a regular file"))
                continue
            found.append((path, None))
    return found


def _copy_all(
    config: PreserveConfig, logs: Sequence[Path], folder: Path, snapshot: Snapshot
) -> None:
    """The blocking part, run in a thread."""
    budget = config.max_bytes
    for configured in [*logs, *config.paths]:
        source = Path(os.path.abspath(configured))
        if not source.exists():
            snapshot.missing.append(str(configured))
            continue
        root = source.resolve()  # a configured symlink is the operator's choice: follow it
        for path, refusal in _collect(root):
            if refusal is not None:
                snapshot.refused.append({"path": str(path), "reason": refusal})
                continue
            size = path.stat().st_size
            if snapshot.total_bytes + size > budget:
                reason = f"size cap of {budget} bytes reached ({size} bytes more)"
                snapshot.refused.append({"path": str(path), "reason": reason})
                continue
            # Mirror the configured absolute path under files/, so two `app.log` never collide.
            rel = Path("files") / source.relative_to(source.anchor) / path.relative_to(root)
            try:
                copied, digest = _copy_file(path, folder / rel)
            except OSError as exc:
                reason = f"cannot copy: {exc.strerror or exc}"
                snapshot.refused.append({"path": str(path), "reason": reason})
                continue
            snapshot.total_bytes += copied
            snapshot.files.append(CopiedFile(str(path), str(rel), copied, digest))


async def _gcore(pid: int, folder: Path, limit: float) -> tuple[str | None, str]:
    program = shutil.which("gcore")
    if program is None:
        return None, "core dump skipped: gcore is not installed (apt install gdb)"
    prefix = folder / "core"
    proc = await asyncio.create_subprocess_exec(
        program,
        "-o",
        str(prefix),
        str(pid),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        async with asyncio.timeout(limit):
            output, _ = await proc.communicate()
    except BaseException as exc:
        # gdb holds the target stopped under ptrace: never leave it attached.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await asyncio.shield(proc.wait())
        if isinstance(exc, TimeoutError):
            return None, f"core dump failed: no result within {duration(limit)}"
        raise
    core = folder / f"core.{pid}"
    if proc.returncode != 0 or not core.exists():
        lines = output.decode("utf-8", "replace").strip().splitlines()
        tail = lines[-1] if lines else f"exit {proc.returncode}"
        return None, f"core dump failed: {tail}"
    return core.name, f"core dump of pid {pid} written ({core.stat().st_size} bytes)"


async def preserve_state(
    config: PreserveConfig,
    *,
    service: str,
    incident_id: str,
    wall: float,
    pid: int | None = None,
    method: str | None = None,
    logs: Sequence[Path] = (),
    snapshot_dir: Path | None = None,
) -> Snapshot:
    """Copy, hash, optionally dump a core; never raises for a missing or unreadable path.

    `wall` is the incident's wall time (from the injected clock), which names the folder;
    `method` (the one that failed) keeps two failures of one incident apart. `logs` are the
    service's own output files, kept before the configured paths. `snapshot_dir` is where
    the folder goes when the config names none.
    """
    root = config.snapshot_dir or snapshot_dir
    if root is None:
        msg = "no snapshot folder: set preserve.snapshot_dir"
        raise OSError(msg)
    parts = [service, method] if method else [service]
    name = "-".join([*parts, _stamp(wall), short_id(incident_id)])
    folder = root / name
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=False)
    snapshot = Snapshot(folder=folder)
    await asyncio.to_thread(_copy_all, config, logs, folder, snapshot)
    if not config.gcore:
        snapshot.core_note = "core dump skipped: disabled in config (preserve.gcore)"
    elif pid is None:
        snapshot.core_note = "core dump skipped: no process is running"
    else:
        snapshot.core, snapshot.core_note = await _gcore(pid, folder, config.gcore_timeout)
    manifest: dict[str, Any] = {
        "service": service,
        "method": method,
        "logs": [str(p) for p in logs],
        "incident": incident_id,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall)),
        "files": [asdict(f) for f in snapshot.files],
        "missing": snapshot.missing,
        "refused": snapshot.refused,
        "total_bytes": snapshot.total_bytes,
        "core": snapshot.core,
        "core_note": snapshot.core_note,
    }
    text = json.dumps(manifest, indent=2, sort_keys=True)
    await asyncio.to_thread((folder / "manifest.json").write_text, text + "\n", "utf-8")
    parts = [f"preserved {len(snapshot.files)} files ({snapshot.total_bytes} bytes) in {folder}"]
    if snapshot.missing:
        parts.append(f"missing: {', '.join(snapshot.missing)}")
    if snapshot.refused:
        parts.append(f"{len(snapshot.refused)} refused")
    parts.append(snapshot.core_note)
    snapshot.sentence = "; ".join(parts)
    return snapshot
