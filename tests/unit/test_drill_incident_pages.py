"""Every page of a drill's incident is the drill's, and no page of another incident is
(FakeClock, a real SQLite store, the real AlertingService with the default policy).

The service's labels (what the runtime's drills add) change under the incident: a drill's
labels are there when the failure is detected and gone later (the drill finished, or a new
incident of the service took its place), or a drill starts while an older incident is open.
The escalation pages and the approval page of an incident follow its failure alert: DRILL
and to the drill's contact for the drill's incident, the real ladder for the other."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from paramedic.alerting.approval_page import approval_alert_id
from paramedic.core.incident_events import ApprovalRequested
from tests.unit.test_recovery_escalation import MIN, RUNBOOK, Rig, rig

DRILL = {"drill": "drl_1", "drill_to": "backup-oncall"}


async def test_an_incidents_pages_follow_its_failure_alert_not_the_services_labels_now(
    tmp_path: Path,
) -> None:
    """inc_1 is detected while a drill labels the service; the labels go; an hour later its
    RTO escalation (the on-call and every level the outage reached, up to the CTO) and its
    approval page read [DRILL] and go to backup-oncall only. inc_2, of the feed, was
    detected before a drill labelled the services: while one does, its escalation pages
    the real ladder."""
    labels: dict[str, str] = dict(DRILL)
    r: Rig = await rig(tmp_path, tier=2, facts=lambda name: (2, {"desk": "fx", **labels}, RUNBOOK))
    await r.publish(r.failure("inc_1"), r.opened("inc_1"))
    assert r.page("inc_1:failure").title.startswith("[DRILL] ")
    labels.clear()  # the drill is over (or its hold was superseded)
    feed = [replace(e, service="feed") for e in (r.failure("inc_2"), r.opened("inc_2"))]
    await r.publish(*feed)
    labels.update(DRILL)  # a drill labels the services again: inc_2 is not its incident
    r.clock.advance(61 * MIN)
    drilled = r.trigger("rto_exceeded", "slow", incident="inc_1", rto_target_s=60.0)
    real = replace(
        r.trigger("rto_exceeded", "slow", incident="inc_2", rto_target_s=60.0), service="feed"
    )
    request = ApprovalRequested(
        at=r.clock.now(),
        service="engine",
        incident="inc_1",
        method="cold",
        sentence="cold restart needs an approval",
        timeout_s=300.0,
        market_open=True,
    )
    await r.publish(drilled, real, request)
    raised = r.raised()
    mine = {k: v for k, v in raised.items() if k.startswith("inc_1:")}
    assert f"inc_1:escalation:{drilled.id}" in mine
    assert "inc_1:escalation:outage-cto" in mine
    assert {("backup-oncall",)} == set(mine.values())
    for page in mine:
        assert r.page(page).title.startswith("[DRILL] ")
        assert "drl_1" == r.page(page).labels["drill"]
    theirs = {k: v for k, v in raised.items() if k.startswith("inc_2:")}
    assert ("oncall",) == theirs[f"inc_2:escalation:{real.id}"]
    assert ("cto",) == theirs["inc_2:escalation:outage-cto"]
    assert all("drill" not in r.page(page).labels for page in theirs)
    approval = r.page(approval_alert_id(request))
    assert approval.title.startswith("[DRILL] ")
    asked = [e for e in r.recorded if e.kind == "alert.raised" and e.alert_id == approval.id]
    assert [("backup-oncall",)] == [e.receivers for e in asked]
