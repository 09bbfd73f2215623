-- Who may use which MCP server. Deny by default: a principal reaches a server only through a
-- row here. The two grant tables keep the original system's names and columns, so its group
-- mappings load unchanged; `tenant_id` there is the MCP server id, and '*' means every server.

-- A group (the Entra group's object id, or its display name) may use a server.
CREATE TABLE group_tenant_mapping (
    group_name text NOT NULL CONSTRAINT group_tenant_mapping_group_present CHECK (group_name <> ''),
    tenant_id text NOT NULL
        CONSTRAINT group_tenant_mapping_server CHECK (tenant_id = '*' OR tenant_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_name, tenant_id)
);

-- One user may use a server. Users are matched by Entra object id within their tenant
-- (stable), or, for compatibility with the original table, by user principal name / e-mail.
CREATE TABLE user_tenant_access (
    id bigserial PRIMARY KEY,
    user_email text,
    user_tenant_id text,
    user_object_id text,
    tenant_id text NOT NULL
        CONSTRAINT user_tenant_access_server CHECK (tenant_id = '*' OR tenant_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    access_level text NOT NULL DEFAULT 'read',
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_tenant_access_names_a_user CHECK (
        (user_email IS NOT NULL AND user_email <> '') OR (user_tenant_id IS NOT NULL AND user_object_id IS NOT NULL)
    )
);
CREATE UNIQUE INDEX user_tenant_access_by_email ON user_tenant_access (lower(user_email), tenant_id) WHERE user_email IS NOT NULL;
CREATE UNIQUE INDEX user_tenant_access_by_object ON user_tenant_access (user_tenant_id, user_object_id, tenant_id)
    WHERE user_object_id IS NOT NULL;

-- Entra tokens carry group object ids; this table names them, so that mappings written with
-- display names ("MCP-GitHub") apply to tokens that carry only ids.
CREATE TABLE entra_groups (
    object_id text PRIMARY KEY,
    display_name text NOT NULL
);
CREATE INDEX entra_groups_by_name ON entra_groups (display_name);

-- At most one execution per call id: a redelivered request (a worker died, a connection
-- dropped before the ack) finds its row here and is answered from it instead of running again.
CREATE TABLE call_executions (
    call_id uuid PRIMARY KEY,
    server_id text NOT NULL,
    tool text,
    worker text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    -- The encoded reply, once there is one.
    reply jsonb
);
CREATE INDEX call_executions_started ON call_executions (started_at);
