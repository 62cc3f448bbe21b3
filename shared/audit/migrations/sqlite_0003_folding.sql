-- Identical refusals close together are one row with a count (issue 15):
-- occurrences, and when the last of them happened. Old rows count once.
ALTER TABLE audit_events ADD COLUMN occurrences BIGINT NOT NULL DEFAULT 1;
ALTER TABLE audit_events ADD COLUMN last_occurred_at TEXT;
