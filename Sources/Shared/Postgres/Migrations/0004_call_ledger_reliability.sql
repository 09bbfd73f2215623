-- The call ledger knows enough to answer truthfully after any fault (docs/reliability.md):
-- who made each call (GET /calls/{callId} answers its caller only), what exactly was asked
-- (a retry with the same Idempotency-Key must ask the same), until when it may run, and which
-- worker process ran it (that process holds a session-level advisory lock while it lives, so a
-- redelivery can tell a call still running elsewhere from one whose worker died).
ALTER TABLE call_executions
    ADD COLUMN caller_tid text,
    ADD COLUMN caller_sub text,
    -- SHA-256 (hex) of the server, the tool and the canonical JSON of the arguments.
    ADD COLUMN request_digest text,
    ADD COLUMN idempotency_key text,
    ADD COLUMN deadline timestamptz,
    ADD COLUMN worker_instance uuid,
    -- When the call's outcome record was confirmed on the audit stream.
    ADD COLUMN audited_at timestamptz;
