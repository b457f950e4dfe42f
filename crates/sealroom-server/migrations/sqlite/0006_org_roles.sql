-- Each account's role in the organisation (see src/org_roles.rs for what each may do).
ALTER TABLE accounts ADD COLUMN org_role TEXT NOT NULL DEFAULT 'member'
    CHECK (org_role IN ('owner', 'admin', 'auditor', 'member'));
