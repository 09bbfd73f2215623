-- Tenancy: tenants as rows, grants within a tenant (to a group, a user or an app role),
-- tool rules narrowing a grant, sealed backend credentials per (tenant, server), and explicit
-- shares of the platform's own credentials. See docs/tenancy.md.

-- A tenant: whose context (and whose backend credentials) a call runs in. `default` holds the
-- grants written through the legacy tables; `platform` holds the platform's own credentials and
-- can hold no grants: a tenant uses them only through a row of `platform_credential_shares`.
CREATE TABLE tenants (
    id text PRIMARY KEY
        CONSTRAINT tenants_id_format CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    display_name text NOT NULL,
    -- When set, the tenant's grants match only tokens issued by this Entra directory (`tid`).
    entra_tenant_id text,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tenants (id, display_name) VALUES ('default', 'Default'), ('platform', 'Platform (shared credentials)');

-- The tenant a group's people belong to: a row written through the legacy `group_tenant_mapping`
-- for this group becomes a grant in this tenant (in `default` when the group is not listed).
CREATE TABLE tenant_groups (
    group_name text PRIMARY KEY CONSTRAINT tenant_groups_group_present CHECK (group_name <> ''),
    tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE
        CONSTRAINT tenant_groups_not_platform CHECK (tenant_id <> 'platform')
);

-- One grant: a subject may use a server ('*' = every server) within a tenant.
CREATE TABLE access_grants (
    id bigserial PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE
        CONSTRAINT access_grants_not_platform CHECK (tenant_id <> 'platform'),
    server_id text NOT NULL
        CONSTRAINT access_grants_server CHECK (server_id = '*' OR server_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    subject_kind text NOT NULL CONSTRAINT access_grants_kind CHECK (subject_kind IN ('group', 'user', 'role')),
    -- group: the Entra group's object id or display name.
    group_name text,
    -- user: Entra tenant and object id (stable), or a user principal name / e-mail (compatibility).
    user_tenant_id text,
    user_object_id text,
    user_email text,
    -- role: an app role value from the token's `roles` claim.
    role_name text,
    access_level text NOT NULL DEFAULT 'read',
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT access_grants_subject CHECK (
        CASE subject_kind
            WHEN 'group' THEN group_name IS NOT NULL AND group_name <> ''
            WHEN 'role' THEN role_name IS NOT NULL AND role_name <> ''
            ELSE (user_object_id IS NOT NULL AND user_object_id <> '' AND user_tenant_id IS NOT NULL AND user_tenant_id <> '')
                OR (user_email IS NOT NULL AND user_email <> '')
        END
    )
);
CREATE UNIQUE INDEX access_grants_group ON access_grants (tenant_id, server_id, group_name) WHERE subject_kind = 'group';
CREATE UNIQUE INDEX access_grants_role ON access_grants (tenant_id, server_id, role_name) WHERE subject_kind = 'role';
CREATE UNIQUE INDEX access_grants_user_object ON access_grants (tenant_id, server_id, user_tenant_id, user_object_id)
    WHERE subject_kind = 'user' AND user_object_id IS NOT NULL;
CREATE UNIQUE INDEX access_grants_user_email ON access_grants (tenant_id, server_id, lower(user_email))
    WHERE subject_kind = 'user' AND user_object_id IS NULL;
CREATE INDEX access_grants_by_group ON access_grants (group_name) WHERE subject_kind = 'group';

-- Narrows a grant to tools: with allow rules, only matching tools; deny rules always win.
-- Patterns are globs (`*` any run of characters, `?` one character), matched against the whole name.
CREATE TABLE tool_rules (
    id bigserial PRIMARY KEY,
    grant_id bigint NOT NULL REFERENCES access_grants (id) ON DELETE CASCADE,
    effect text NOT NULL CONSTRAINT tool_rules_effect CHECK (effect IN ('allow', 'deny')),
    pattern text NOT NULL CONSTRAINT tool_rules_pattern CHECK (pattern <> '' AND length(pattern) <= 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (grant_id, effect, pattern)
);

-- Carry the legacy grants over, then keep the legacy names as views over access_grants.
INSERT INTO access_grants (tenant_id, server_id, subject_kind, group_name, created_at)
    SELECT 'default', tenant_id, 'group', group_name, created_at FROM group_tenant_mapping;
INSERT INTO access_grants (tenant_id, server_id, subject_kind, user_email, user_tenant_id, user_object_id, access_level, created_at)
    SELECT 'default', tenant_id, 'user', user_email, user_tenant_id, user_object_id, access_level, created_at FROM user_tenant_access
    ON CONFLICT DO NOTHING;
DROP TABLE group_tenant_mapping;
DROP TABLE user_tenant_access;

-- The seed's table: `tenant_id` is the MCP server id ('*' = all), as in the original system.
CREATE VIEW group_tenant_mapping AS
    SELECT group_name, server_id AS tenant_id, created_at, tenant_id AS grant_tenant
    FROM access_grants WHERE subject_kind = 'group';

CREATE VIEW user_tenant_access AS
    SELECT id, user_email, user_tenant_id, user_object_id, server_id AS tenant_id, access_level, created_at, tenant_id AS grant_tenant
    FROM access_grants WHERE subject_kind = 'user';

CREATE FUNCTION group_tenant_mapping_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO access_grants (tenant_id, server_id, subject_kind, group_name, created_at)
        VALUES (
            coalesce(NEW.grant_tenant, (SELECT tenant_id FROM tenant_groups WHERE group_name = NEW.group_name), 'default'),
            NEW.tenant_id, 'group', NEW.group_name, coalesce(NEW.created_at, now())
        )
        ON CONFLICT DO NOTHING;
        RETURN NEW;
    END IF;
    DELETE FROM access_grants
    WHERE subject_kind = 'group' AND group_name = OLD.group_name AND server_id = OLD.tenant_id AND tenant_id = OLD.grant_tenant;
    RETURN OLD;
END;
$$;
CREATE TRIGGER group_tenant_mapping_write INSTEAD OF INSERT OR DELETE ON group_tenant_mapping
    FOR EACH ROW EXECUTE FUNCTION group_tenant_mapping_write();

CREATE FUNCTION user_tenant_access_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO access_grants (tenant_id, server_id, subject_kind, user_email, user_tenant_id, user_object_id, access_level, created_at)
        VALUES (
            coalesce(NEW.grant_tenant, 'default'), NEW.tenant_id, 'user', NEW.user_email, NEW.user_tenant_id, NEW.user_object_id,
            coalesce(NEW.access_level, 'read'), coalesce(NEW.created_at, now())
        )
        ON CONFLICT DO NOTHING;
        RETURN NEW;
    END IF;
    DELETE FROM access_grants WHERE id = OLD.id;
    RETURN OLD;
END;
$$;
CREATE TRIGGER user_tenant_access_write INSTEAD OF INSERT OR DELETE ON user_tenant_access
    FOR EACH ROW EXECUTE FUNCTION user_tenant_access_write();

-- Backend credentials. Every value is sealed with AES-256-GCM (nonce, ciphertext and tag in
-- `sealed`) under the key named by `key_id`; the row's identity is the associated data, so a
-- sealed value moved to another row does not open. Plaintext never reaches this database.
ALTER TABLE mcp_servers ADD COLUMN credential_required boolean NOT NULL DEFAULT false;

-- One row per encryption key id ever used: a known text sealed under that key, so a process
-- can tell at start whether the key it was given is the right one.
CREATE TABLE credential_keys (
    key_id text PRIMARY KEY CONSTRAINT credential_keys_id_format CHECK (key_id ~ '^[A-Za-z0-9._-]{1,64}$'),
    sealed_check bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE backend_credentials (
    tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    server_id text NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    -- header: sent on every HTTP request (streamable HTTP, SSE); env: set for a stdio process.
    target text NOT NULL CONSTRAINT backend_credentials_target CHECK (target IN ('header', 'env')),
    name text NOT NULL CONSTRAINT backend_credentials_name CHECK (
        CASE target WHEN 'env' THEN name ~ '^[A-Za-z_][A-Za-z0-9_]{0,127}$' ELSE name ~ '^[A-Za-z0-9!#$%&''*+.^_`|~-]{1,128}$' END
    ),
    key_id text NOT NULL REFERENCES credential_keys (key_id),
    sealed bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, server_id, target, name)
);

-- "This tenant uses the platform's credentials for this server": the only way a call runs with
-- the platform's key. Never implied.
CREATE TABLE platform_credential_shares (
    tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE
        CONSTRAINT platform_credential_shares_not_platform CHECK (tenant_id <> 'platform'),
    server_id text NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, server_id)
);

-- Who may ask the gateway's admin questions (the explain endpoint): a group, a user or a role.
CREATE TABLE gateway_admins (
    id bigserial PRIMARY KEY,
    subject_kind text NOT NULL CONSTRAINT gateway_admins_kind CHECK (subject_kind IN ('group', 'user', 'role')),
    -- group name or object id; role value; user as '<tid>/<oid>' or a user principal name.
    subject text NOT NULL CONSTRAINT gateway_admins_subject CHECK (subject <> ''),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subject_kind, subject)
);

-- Every change that can alter a decision is announced on channel `mcpgw_tenancy`, payload
-- '<schema>:<table>'; workers LISTEN and drop their decision caches.
CREATE FUNCTION mcpgw_notify_tenancy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mcpgw_tenancy', TG_TABLE_SCHEMA || ':' || TG_TABLE_NAME);
    RETURN NULL;
END;
$$;
CREATE TRIGGER notify_tenancy AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION mcpgw_notify_tenancy();
CREATE TRIGGER notify_tenancy AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenant_groups
    FOR EACH STATEMENT EXECUTE FUNCTION mcpgw_notify_tenancy();
CREATE TRIGGER notify_tenancy AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON access_grants
    FOR EACH STATEMENT EXECUTE FUNCTION mcpgw_notify_tenancy();
CREATE TRIGGER notify_tenancy AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tool_rules
    FOR EACH STATEMENT EXECUTE FUNCTION mcpgw_notify_tenancy();
CREATE TRIGGER notify_tenancy AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON backend_credentials
    FOR EACH STATEMENT EXECUTE FUNCTION mcpgw_notify_tenancy();
CREATE TRIGGER notify_tenancy AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON platform_credential_shares
    FOR EACH STATEMENT EXECUTE FUNCTION mcpgw_notify_tenancy();
CREATE TRIGGER notify_tenancy AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mcp_servers
    FOR EACH STATEMENT EXECUTE FUNCTION mcpgw_notify_tenancy();
CREATE TRIGGER notify_tenancy AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON entra_groups
    FOR EACH STATEMENT EXECUTE FUNCTION mcpgw_notify_tenancy();
CREATE TRIGGER notify_tenancy AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON gateway_admins
    FOR EACH STATEMENT EXECUTE FUNCTION mcpgw_notify_tenancy();
