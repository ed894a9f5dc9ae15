-- The operator surface: who did what through the API, and silences set at run time.
-- Every mutating API call is one audit row, written (durably) after authorisation and before
-- the call acts; its outcome is filled in before the answer leaves. A row whose outcome stays
-- '' was cut short by a stop or a crash: nobody was told whether it took effect.
ALTER TABLE audit ADD COLUMN role TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN outcome TEXT NOT NULL DEFAULT '';

-- Silences added through the API (config silences live in the config file).
CREATE TABLE silences (
    id              TEXT PRIMARY KEY,
    matchers        TEXT NOT NULL,          -- JSON list of matcher strings
    starts_wall     REAL NOT NULL,
    ends_wall       REAL,                   -- NULL with until_resolved
    until_resolved  INTEGER NOT NULL,
    author          TEXT NOT NULL,
    comment         TEXT NOT NULL,
    created_wall    REAL NOT NULL,
    expired_wall    REAL,                   -- set when expired by hand or ended by a resolve
    expired_by      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX silences_live ON silences (expired_wall, ends_wall);
