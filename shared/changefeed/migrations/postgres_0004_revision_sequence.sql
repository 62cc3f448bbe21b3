-- Revisions from a sequence instead of change_feed_head's row (issue 15):
-- a writer bumping the head row held its lock until commit, so every write
-- of a service queued behind the one before it (one commit flush at a time).
-- Writers now take a revision from `change_revision` while holding a shared
-- advisory lock of their feed (see csm_changefeed::append); a follower reads
-- only up to a revision below which no writer is still in flight, so a
-- revision that commits late is never skipped.
CREATE SEQUENCE change_revision AS BIGINT MINVALUE 1 CACHE 1;
SELECT setval('change_revision', GREATEST(revision, 1), revision > 0) FROM change_feed_head;
DROP TABLE change_feed_head;
