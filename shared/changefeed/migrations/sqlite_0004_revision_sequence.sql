-- PostgreSQL takes revisions from a sequence from this version on. SQLite
-- keeps change_feed_head: its writers hold the database's write lock until
-- commit anyway, so bumping the head row costs them no concurrency.
SELECT 1;
