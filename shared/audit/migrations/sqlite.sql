-- The audit trail (DESIGN.md §6): one row per committed change (written in
-- the change's transaction) and per refusal (written in batches).
CREATE TABLE audit_events (
    event_id TEXT PRIMARY KEY,
    occurred_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    rpc TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    decision TEXT NOT NULL,
    rule TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    revision BIGINT NOT NULL
);
-- Reads are a time range, optionally of one actor or one principal.
CREATE INDEX audit_events_by_time ON audit_events (occurred_at, event_id);
CREATE INDEX audit_events_by_actor ON audit_events (actor_id, occurred_at, event_id);
CREATE INDEX audit_events_by_principal ON audit_events (principal_id, occurred_at, event_id);
