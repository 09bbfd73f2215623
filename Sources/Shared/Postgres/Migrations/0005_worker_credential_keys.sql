-- Which credential keys each running worker process holds (by key id and a fingerprint that
-- reveals nothing of the key), so that `mcpgw credentials rotate-key` can refuse to re-seal
-- under a key that a live worker could not open. Rows of workers that are gone are pruned by
-- the CLI (a worker is alive while it holds its presence lock; see docs/reliability.md).
CREATE TABLE worker_credential_keys (
    worker_instance uuid NOT NULL,
    worker text NOT NULL,
    key_id text NOT NULL,
    fingerprint text NOT NULL,
    reported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (worker_instance, key_id)
);
