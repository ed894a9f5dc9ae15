"""The trading engine's checkpoint file: positions with a checksum, written atomically.

Format: `{"seq": n, "positions": {symbol: qty}, "written_at": unix seconds, "sha256": hex}`,
the digest over `{"seq", "positions"}` as sorted JSON. A file whose digest does not match is
corrupt: the warm restart refuses it and the corruption check reports it.

Run as a program it is the recovery's helper:
  python3 checkpoint.py check PATH    prints {"corrupt": bool, "detail": str} (the
                                      corruption check's format)
  python3 checkpoint.py load          verifies $PARAMEDIC_CHECKPOINT_PATH (the fact the warm
                                      decision used) and stages it as PATH.restore, which the
                                      engine loads at its next start
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def digest(seq: int, positions: dict[str, int]) -> str:
    doc = json.dumps({"seq": seq, "positions": positions}, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()


def write(path: Path, seq: int, positions: dict[str, int]) -> None:
    """Write atomically (a reader never sees half a checkpoint)."""
    doc = {
        "seq": seq,
        "positions": positions,
        "written_at": time.time(),
        "sha256": digest(seq, positions),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


def read(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The checkpoint, or None and why it cannot be trusted."""
    try:
        doc = json.loads(path.read_text())
        seq, positions, sha = doc["seq"], doc["positions"], doc["sha256"]
    except FileNotFoundError:
        return None, f"no checkpoint at {path}"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"checkpoint {path} unreadable: {exc}"
    if digest(seq, positions) != sha:
        return None, f"checkpoint {path} fails its checksum (positions altered)"
    return doc, ""


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"] and len(argv) == 2:
        path = Path(argv[1])
        doc, why = read(path)
        corrupt = doc is None and path.exists()
        print(json.dumps({"corrupt": corrupt, "detail": why}))
        return 0
    if argv == ["load"]:
        path = Path(os.environ["PARAMEDIC_CHECKPOINT_PATH"])
        doc, why = read(path)
        if doc is None:
            print(f"load: {why}", file=sys.stderr)
            return 1
        path.with_suffix(".restore").write_text(json.dumps(doc))
        print(f"load: checkpoint seq {doc['seq']} verified and staged", flush=True)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
