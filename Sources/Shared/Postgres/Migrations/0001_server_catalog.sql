-- The MCP server catalog: every backend the gateway can route a call to.
-- Authorization (groups, tenants, grants) refers to these ids; a server that is not here, or is
-- disabled, cannot be reached by anyone.
CREATE TABLE mcp_servers (
    id text PRIMARY KEY
        CONSTRAINT mcp_servers_id_format CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    display_name text NOT NULL,
    transport text NOT NULL
        CONSTRAINT mcp_servers_transport_known CHECK (transport IN ('streamable_http', 'sse', 'stdio')),
    -- Where an HTTP backend listens (streamable_http, sse).
    url text,
    -- What a stdio backend runs, with its arguments and extra environment.
    command text,
    arguments jsonb NOT NULL DEFAULT '[]'
        CONSTRAINT mcp_servers_arguments_array CHECK (jsonb_typeof(arguments) = 'array'),
    environment jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT mcp_servers_environment_object CHECK (jsonb_typeof(environment) = 'object'),
    timeout_ms integer NOT NULL DEFAULT 60000
        CONSTRAINT mcp_servers_timeout_range CHECK (timeout_ms BETWEEN 100 AND 3600000),
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- An HTTP transport needs a URL, stdio needs a command.
    CONSTRAINT mcp_servers_transport_target CHECK (
        CASE transport
            WHEN 'stdio' THEN command IS NOT NULL AND command <> ''
            ELSE url IS NOT NULL AND url <> ''
        END
    )
);
