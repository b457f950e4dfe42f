-- The audit log becomes a hash chain (docs/audit-log.md): each record keeps the hash of the
-- record before it and its own, over its canonical encoding. Client addresses are hashed as
-- their prefix plus a salted commitment to the full address, so that dropping the salt and
-- the address's last bits (retention) leaves the chain whole.
ALTER TABLE audit_log ADD COLUMN prev_hash BLOB;
ALTER TABLE audit_log ADD COLUMN hash BLOB;
ALTER TABLE audit_log ADD COLUMN address_salt BLOB;
ALTER TABLE audit_log ADD COLUMN address_commitment BLOB;

-- SQLite cannot compute SHA-256: the records written before this migration are chained by
-- the server when it next opens the database, once, and only those.
CREATE TABLE audit_chain_backfill (up_to INTEGER NOT NULL);
INSERT INTO audit_chain_backfill (up_to) SELECT COALESCE(MAX(id), 0) FROM audit_log;

-- Retention removes the oldest records only while it names them here, in its transaction.
CREATE TABLE audit_pruning (up_to INTEGER NOT NULL);

-- The triggers stop mistakes; the chain is what detects deliberate tampering. A record may
-- change only by being chained once (the backfill) or by having its addresses truncated
-- (its detail changes and its salt goes, nothing else).
DROP TRIGGER audit_log_is_append_only_update;
DROP TRIGGER audit_log_is_append_only_delete;
CREATE TRIGGER audit_log_is_append_only_update BEFORE UPDATE ON audit_log
WHEN NEW.id IS NOT OLD.id OR NEW.at IS NOT OLD.at OR NEW.room IS NOT OLD.room
    OR NEW.participant IS NOT OLD.participant OR NEW.action IS NOT OLD.action
    OR (OLD.hash IS NOT NULL AND (NEW.hash IS NOT OLD.hash
        OR NEW.prev_hash IS NOT OLD.prev_hash
        OR NEW.address_commitment IS NOT OLD.address_commitment
        OR (NEW.address_salt IS NOT NULL AND NEW.address_salt IS NOT OLD.address_salt)))
    OR (NEW.detail IS NOT OLD.detail
        AND NOT (OLD.address_salt IS NOT NULL AND NEW.address_salt IS NULL))
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_is_append_only_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_pruning WHERE OLD.id <= up_to)
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
