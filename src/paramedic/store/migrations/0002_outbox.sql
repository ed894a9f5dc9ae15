-- Alerts and the durable notification outbox (issue 5).
-- Due times are stored as wall-clock seconds: monotonic time does not survive a restart.
-- On load they are turned back into monotonic deadlines ("resume at the original due time").
CREATE TABLE alerts (
    id          TEXT PRIMARY KEY,
    incident    TEXT,
    service     TEXT,
    severity    TEXT NOT NULL,
    state       TEXT NOT NULL,          -- firing | acknowledged | resolved
    opened_wall REAL NOT NULL,
    updated_wall REAL NOT NULL,
    data        TEXT NOT NULL           -- JSON: labels, content, ack, escalation snapshot
);
CREATE INDEX alerts_state ON alerts (state, opened_wall);

CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    alert_id        TEXT NOT NULL,
    channel         TEXT NOT NULL,
    action          TEXT NOT NULL,      -- trigger | acknowledge | resolve
    severity        TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    status          TEXT NOT NULL,      -- pending | delivered | failed | cancelled
    attempts        INTEGER NOT NULL DEFAULT 0,
    due_wall        REAL NOT NULL,
    created_wall    REAL NOT NULL,
    last_detail     TEXT NOT NULL DEFAULT '',
    payload         TEXT NOT NULL       -- JSON: the rendered Notification
);
CREATE INDEX notifications_pending ON notifications (status, due_wall);
CREATE INDEX notifications_alert ON notifications (alert_id);

CREATE TABLE attempts (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id TEXT NOT NULL,
    number          INTEGER NOT NULL,
    started_wall    REAL NOT NULL,
    duration_s      REAL NOT NULL,
    outcome         TEXT NOT NULL,      -- delivered | retry | failed
    status          INTEGER,
    detail          TEXT NOT NULL
);
CREATE INDEX attempts_notification ON attempts (notification_id, number);

-- Every authenticated human action (ack, resolve, approve, reject, silence...) with a name on it.
CREATE TABLE audit (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    wall    REAL NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    reason  TEXT NOT NULL
);
