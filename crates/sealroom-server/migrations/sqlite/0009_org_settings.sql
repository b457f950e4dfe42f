-- The organisation's settings that owners and admins change in the console (`OrgSettings`, as
-- JSON): whether guests may join, and what a new room starts with. One row; none until the
-- first change, when the defaults apply.
CREATE TABLE org_settings (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    settings    TEXT    NOT NULL,
    changed_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
