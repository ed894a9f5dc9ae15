"""The floor's inbox: what the on-call's pager would show. It receives paramedic's signed
webhook (`POST /page`, the `webhook` channel's version-1 body), prints one readable line per
page, update, all-clear and resolve to its terminal, and keeps the last ones for
`GET /messages` (JSON, oldest first), so a test reads what a person would have seen.

A body whose `X-Paramedic-Signature` does not verify under the shared secret (or whose
timestamp is older than 5 minutes) is refused with 401 and not shown; a retry of a message
already shown (same `Idempotency-Key`) is answered 200 and not shown twice. Like every floor
service it heartbeats and serves /health, so paramedic watches and restarts it.
"""

from __future__ import annotations

import argparse
import collections
import hmac
import json
import sys
import time
from pathlib import Path
from typing import Any

from common import FloorService

REPLAY_WINDOW_S = 300
# How a line starts, by what the message is: capitals, so a line is never mistaken for
# paramedic's own log lines (`page: ...`, `update: ...`, `all clear: ...`).
SAID = {"trigger": "PAGE", "acknowledge": "ACKED", "resolve": "RESOLVED", "update": "STATUS"}
NOTICES = {"recovery_update": "UPDATE", "all_clear": "ALL CLEAR"}


class Inbox(FloorService):
    name = "inbox"
    period = 0.05

    def __init__(self, secret: bytes, keep: int) -> None:
        super().__init__()
        self.secret = secret
        self.messages: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)
        self.seen: collections.deque[str] = collections.deque(maxlen=4 * keep)
        self.received = 0
        self.refused = 0
        self.raw_post["/page"] = self._page
        self.get["/messages"] = lambda _b: (200, {"messages": self._copy()})

    def _copy(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.messages)

    def _verified(self, headers: dict[str, str], body: bytes) -> bool:
        stamp = headers.get("x-paramedic-timestamp", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > REPLAY_WINDOW_S:
            return False
        signed = b"v1:%s:%s" % (stamp.encode(), body)
        expected = "v1=" + hmac.digest(self.secret, signed, "sha256").hex()
        return hmac.compare_digest(expected, headers.get("x-paramedic-signature", ""))

    def _page(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if not self._verified(headers, body):
            with self.lock:
                self.refused += 1
            return 401, {"error": "signature or timestamp does not verify"}
        try:
            doc = json.loads(body)
        except ValueError:
            return 400, {"error": "body is not JSON"}
        if not isinstance(doc, dict) or doc.get("version") != 1:
            return 400, {"error": "expected paramedic's webhook body, version 1"}
        key = headers.get("idempotency-key") or str(doc.get("idempotency_key", ""))
        message = shown(doc)
        with self.lock:
            if key and key in self.seen:
                return 200, {"ok": True, "duplicate": True}
            self.seen.append(key)
            self.received += 1
            self.messages.append(message)
        print(message["line"], flush=True)
        return 200, {"ok": True}

    def components(self) -> dict[str, bool]:
        return {"receiving": True}

    def metrics(self) -> dict[str, float]:
        return {"messages_total": self.received, "refused_total": self.refused}


def shown(doc: dict[str, Any]) -> dict[str, Any]:
    """What the inbox keeps of one webhook body, with the line it printed."""
    labels = doc.get("labels") or {}
    action = str(doc.get("action", ""))
    notice = NOTICES.get(labels.get("kind", "")) if action == "trigger" else None
    said = notice or SAID.get(action, action.upper())
    receiver = labels.get("receiver", "")
    stamp = time.strftime("%H:%M:%S")
    line = f"inbox {stamp} {said:<9} {doc.get('title')}"  # the title names the severity
    line += f"  (to {receiver or '-'}, alert {doc.get('alert_id')})"
    return {
        "at": time.time(),
        "said": said,
        "action": action,
        "severity": doc.get("severity"),
        "title": doc.get("title"),
        "alert_id": doc.get("alert_id"),
        "receiver": receiver,
        "labels": labels,
        "line": line,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8106)
    parser.add_argument("--secret-file", type=Path, required=True)
    parser.add_argument("--keep", type=int, default=200, help="messages kept for /messages")
    args = parser.parse_args()
    Inbox(args.secret_file.read_bytes().strip(), args.keep).serve(args.port)
    sys.exit(0)
