-- The organisation's settings that owners and admins change in the console (`OrgSettings`, as
-- JSON): whether guests may join, and what a new room starts with. One row; none until the
-- first change, when the defaults apply.
CREATE TABLE org_settings (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    settings    TEXT   NOT NULL,
    changed_at  TEXT   NOT NULL
                DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
);
