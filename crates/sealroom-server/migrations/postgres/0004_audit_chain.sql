-- The audit log becomes a hash chain (docs/audit-log.md): each record keeps the hash of the
-- record before it and its own, over its canonical encoding. Client addresses are hashed as
-- their prefix plus a salted commitment to the full address, so that dropping the salt and
-- the address's last bits (retention) leaves the chain whole.
ALTER TABLE audit_log ADD COLUMN prev_hash BYTEA;
ALTER TABLE audit_log ADD COLUMN hash BYTEA;
ALTER TABLE audit_log ADD COLUMN address_salt BYTEA;
ALTER TABLE audit_log ADD COLUMN address_commitment BYTEA;

-- As in SQLite, the records written before this migration would be chained by the server when
-- it next opens the database (a PostgreSQL database has none: its log began chained).
CREATE TABLE audit_chain_backfill (up_to BIGINT NOT NULL);
INSERT INTO audit_chain_backfill (up_to) SELECT COALESCE(MAX(id), 0) FROM audit_log;

-- Retention removes the oldest records only while it names them here, in its transaction.
CREATE TABLE audit_pruning (up_to BIGINT NOT NULL);

-- The triggers stop mistakes; the chain is what detects deliberate tampering. A record may
-- change only by being chained once (the backfill) or by having its addresses truncated
-- (its detail changes and its salt goes, nothing else).
DROP TRIGGER audit_log_is_append_only_update ON audit_log;
DROP TRIGGER audit_log_is_append_only_delete ON audit_log;
CREATE TRIGGER audit_log_is_append_only_update BEFORE UPDATE ON audit_log
FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id OR NEW.at IS DISTINCT FROM OLD.at
    OR NEW.room IS DISTINCT FROM OLD.room
    OR NEW.participant IS DISTINCT FROM OLD.participant
    OR NEW.action IS DISTINCT FROM OLD.action
    OR (OLD.hash IS NOT NULL AND (NEW.hash IS DISTINCT FROM OLD.hash
        OR NEW.prev_hash IS DISTINCT FROM OLD.prev_hash
        OR NEW.address_commitment IS DISTINCT FROM OLD.address_commitment
        OR (NEW.address_salt IS NOT NULL AND NEW.address_salt IS DISTINCT FROM OLD.address_salt)))
    OR (NEW.detail IS DISTINCT FROM OLD.detail
        AND NOT (OLD.address_salt IS NOT NULL AND NEW.address_salt IS NULL)))
EXECUTE FUNCTION audit_log_refuse();
-- A trigger's condition cannot read another table here: the function does.
CREATE FUNCTION audit_log_refuse_unpruned_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit_pruning WHERE OLD.id <= up_to) THEN
        RAISE EXCEPTION 'audit_log is append-only';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER audit_log_is_append_only_delete BEFORE DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_unpruned_delete();
