-- PostgreSQL's version of sqlite/0001_init.sql; each migration here matches the one of the same
-- number there (tests check the two lists agree). Times are TEXT as in SQLite, RFC 3339 UTC to
-- the millisecond, since the audit chain hashes them as stored.

-- The server's own long-term keys (its MLS external-sender identity), so that groups created
-- before a restart still accept its removal proposals.
CREATE TABLE server_keys (
    name        TEXT  PRIMARY KEY,
    credential  TEXT  NOT NULL,
    secret      BYTEA NOT NULL
);

-- Append-only record of security-relevant events. The server numbers the records itself.
CREATE TABLE audit_log (
    id           BIGINT PRIMARY KEY,
    -- Byte order, as SQLite compares: times are compared as text.
    at           TEXT COLLATE "C" NOT NULL
                 DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    room         TEXT,
    participant  TEXT,
    action       TEXT   NOT NULL,
    detail       TEXT
);

-- The highest record number ever written, as SQLite's AUTOINCREMENT keeps it in
-- sqlite_sequence: records removed from the end leave it behind. Kept by a trigger in the
-- writing transaction; a sequence would not roll back with a failed write.
CREATE TABLE audit_log_sequence (seq BIGINT NOT NULL);
INSERT INTO audit_log_sequence (seq) VALUES (0);
CREATE FUNCTION audit_log_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE audit_log_sequence SET seq = GREATEST(seq, NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_log_sequence AFTER INSERT ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_count();

CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_is_append_only_update BEFORE UPDATE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_refuse();
CREATE TRIGGER audit_log_is_append_only_delete BEFORE DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_refuse();
-- SQLite has no TRUNCATE; here it would pass the row triggers by.
CREATE TRIGGER audit_log_is_append_only_truncate BEFORE TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse();
