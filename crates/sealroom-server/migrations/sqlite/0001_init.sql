-- The server's own long-term keys (its MLS external-sender identity), so that groups created
-- before a restart still accept its removal proposals.
CREATE TABLE server_keys (
    name        TEXT PRIMARY KEY,
    credential  TEXT NOT NULL,
    secret      BLOB NOT NULL
);

-- Append-only record of security-relevant events.
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    room         TEXT,
    participant  TEXT,
    action       TEXT    NOT NULL,
    detail       TEXT
);

CREATE TRIGGER audit_log_is_append_only_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_is_append_only_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
