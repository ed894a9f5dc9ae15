-- The durable timeline: every event, in the order it was recorded.
CREATE TABLE timeline (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    id       TEXT    NOT NULL UNIQUE,
    kind     TEXT    NOT NULL,
    mono     REAL    NOT NULL,
    wall     REAL    NOT NULL,
    service  TEXT,
    summary  TEXT    NOT NULL,
    payload  TEXT    NOT NULL
);
CREATE INDEX timeline_service ON timeline (service, seq);

-- A row written by ping(), to prove the store accepts writes.
CREATE TABLE liveness (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    wall   REAL NOT NULL
);
