-- An organisation's persistent rooms: named by an administrator, kept between meetings with
-- their settings (lobby, "nobody before a moderator", permissions) and password hash.
CREATE TABLE persistent_rooms (
    name           TEXT PRIMARY KEY,
    -- JSON of `KeptSettings`.
    settings       TEXT NOT NULL,
    -- argon2id PHC string of the room password, if it has one.
    password_hash  TEXT,
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
