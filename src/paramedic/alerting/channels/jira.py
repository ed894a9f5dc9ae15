"""Jira Cloud ticket for P2-style follow-up work (seed 2.2: "P2: create Jira ticket").

Per https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-post:
`POST {base}/rest/api/3/issue` with basic auth (account email + API token,
https://developer.atlassian.com/cloud/jira/platform/basic-auth-for-rest-apis/) and
`fields` {project {key}, issuetype {name}, summary (<= 255 chars), description in Atlassian
Document Format (https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/),
labels, priority {name}}; 201 returns {id, key, self}.

A ticket is work to do, not a page: only `trigger` creates one. Acknowledge and resolve are
answered `delivered` without a request, because closing a ticket needs a human's judgement on
the follow-up (and workflow transitions differ per project). Jira has no idempotency key, so a
retry after a lost 201 could open a second ticket; each ticket carries the label
`paramedic-<alert_id>` to make such a twin easy to find and close.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence

from pydantic import SecretStr

from paramedic.alerting.channels._http import JsonPost
from paramedic.alerting.channels.base import DeliveryResult, Notification
from paramedic.checks import HttpPool
from paramedic.core.jsoncodec import dumps
from paramedic.core.severity import Severity

__all__ = ["DEFAULT_PRIORITIES", "JiraChannel", "adf"]

DEFAULT_PRIORITIES: dict[Severity, str] = {
    "P0": "Highest",
    "P1": "High",
    "P2": "Medium",
    "P3": "Low",
}
_SUMMARY_MAX = 255
_LABEL = re.compile(r"\s+")  # Jira labels cannot contain whitespace.


def _text(text: str, href: str | None = None) -> dict[str, object]:
    node: dict[str, object] = {"type": "text", "text": text}
    if href:
        node["marks"] = [{"type": "link", "attrs": {"href": href}}]
    return node


def adf(body: str, links: Mapping[str, str]) -> dict[str, object]:
    """The body as an ADF document: one paragraph per line (ADF forbids empty text nodes)."""
    content: list[dict[str, object]] = [
        {"type": "paragraph", "content": [_text(line)]} for line in body.splitlines() if line
    ]
    for text, href in links.items():
        content.append({"type": "paragraph", "content": [_text(text.title(), href)]})
    return {"type": "doc", "version": 1, "content": content}


def _basic(user: str, password: str) -> str:
    # RFC 7617; built by hand because aiohttp 3.14 deprecates BasicAuth.
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class JiraChannel:
    kind = "jira"

    def __init__(
        self,
        name: str,
        http: HttpPool,
        *,
        url: str,
        project: str,
        email: str,
        api_token: SecretStr,
        issue_type: str = "Bug",
        priorities: Mapping[Severity, str] = DEFAULT_PRIORITIES,
        labels: Sequence[str] = ("paramedic",),
        timeout: float = 5.0,
    ) -> None:
        self.name = name
        self._http = http
        self._url = url.rstrip("/") + "/rest/api/3/issue"
        self._project = project
        self._email = email
        self._token = api_token
        self._issue_type = issue_type
        self._priorities = dict(priorities)
        self._labels = list(labels)
        self._timeout = timeout

    def payload(self, n: Notification) -> dict[str, object]:
        labels = [*self._labels, f"paramedic-{n.alert_id}"]
        labels += [f"{k}-{v}" for k, v in n.labels.items() if k in ("service", "kind") and v]
        fields: dict[str, object] = {
            "project": {"key": self._project},
            "issuetype": {"name": self._issue_type},
            "summary": " ".join(n.title.split())[:_SUMMARY_MAX],
            "description": adf(n.body, n.links),
            "labels": [_LABEL.sub("_", label) for label in labels],
        }
        # A project whose create screen lacks Priority answers 400 if we send one: an empty
        # map in config leaves it out.
        if priority := self._priorities.get(n.severity):
            fields["priority"] = {"name": priority}
        return {"fields": fields}

    async def send(self, n: Notification) -> DeliveryResult:
        if n.action != "trigger":
            return DeliveryResult("delivered", f"jira {self.name}: {n.action} needs no ticket")
        token = self._token.get_secret_value()
        post = JsonPost(
            self._http,
            self._url,
            dumps(self.payload(n)),
            label=f"jira {self.name}",
            limit=self._timeout,
            headers={"Accept": "application/json", "Authorization": _basic(self._email, token)},
            secrets=(token,),
        )
        return await post()

    async def close(self) -> None:
        """The pool is shared and owned by whoever built the channels."""
