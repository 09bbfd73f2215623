-- Rate limits and concurrency quotas (docs/isolation.md). A limit applies to one user (by the
-- token's subject) or one tenant (the gateway tenant the caller's grants fall in), or, with
-- subject '*', to every user or tenant without a limit of its own; server_id '*' means every
-- server, and a server's own row wins over it. A call must fit every limit that applies.
CREATE TABLE rate_limits (
    scope text NOT NULL CONSTRAINT rate_limits_scope CHECK (scope IN ('user', 'tenant')),
    subject text NOT NULL CONSTRAINT rate_limits_subject CHECK (subject <> '' AND length(subject) <= 256),
    server_id text NOT NULL DEFAULT '*'
        CONSTRAINT rate_limits_server CHECK (server_id = '*' OR server_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    -- Calls per minute; the bucket holds `burst` calls (default: a minute's worth).
    requests_per_minute integer CONSTRAINT rate_limits_rate CHECK (requests_per_minute BETWEEN 1 AND 1000000),
    burst integer CONSTRAINT rate_limits_burst CHECK (burst BETWEEN 1 AND 1000000),
    -- Calls running at once.
    max_concurrent integer CONSTRAINT rate_limits_concurrency CHECK (max_concurrent BETWEEN 1 AND 100000),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, subject, server_id),
    CONSTRAINT rate_limits_something CHECK (requests_per_minute IS NOT NULL OR max_concurrent IS NOT NULL)
);

-- One token bucket per limited key, as GCRA's "theoretical arrival time": a call is allowed when
-- tat is at most the burst's tolerance ahead of now, and moves it one interval on.
CREATE TABLE rate_limit_buckets (
    key text PRIMARY KEY,
    tat timestamptz NOT NULL
);

-- The tenant a call's grants fell in (set when a tenant concurrency quota applies), and the
-- index that counts a caller's running calls.
ALTER TABLE call_executions ADD COLUMN tenant_id text;
CREATE INDEX call_executions_running_by_caller ON call_executions (caller_sub, caller_tid) WHERE finished_at IS NULL;
CREATE INDEX call_executions_running_by_tenant ON call_executions (tenant_id) WHERE finished_at IS NULL AND tenant_id IS NOT NULL;

-- Where each live worker's circuit breaker for a backend stands, written when it changes
-- (docs/isolation.md), for `mcpgw servers status`. Rows of workers that are gone are pruned by
-- the CLI (a worker is alive while it holds its presence lock).
CREATE TABLE backend_circuits (
    worker_instance uuid NOT NULL,
    worker text NOT NULL,
    server_id text NOT NULL,
    state text NOT NULL CONSTRAINT backend_circuits_state CHECK (state IN ('closed', 'open', 'half_open')),
    since timestamptz NOT NULL,
    last_error text,
    PRIMARY KEY (worker_instance, server_id)
);
