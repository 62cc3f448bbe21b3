-- The change-feed outbox. `change_feed_head` holds the last revision handed
-- out; every writer bumps it inside its own transaction (the row lock orders
-- writers), so revisions are committed in order and a follower never skips a
-- revision that commits late (which a plain sequence would allow).
CREATE TABLE change_feed_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO change_feed_head (id, revision) VALUES (1, 0);

CREATE TABLE changes (
    revision BIGINT PRIMARY KEY,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    attributes TEXT NOT NULL,
    committed_at TIMESTAMPTZ NOT NULL
);

-- Idempotent creates: the response of a request_id is kept and replayed on retry.
CREATE TABLE idempotency_keys (
    rpc TEXT NOT NULL,
    request_id TEXT NOT NULL,
    response BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (rpc, request_id)
);
