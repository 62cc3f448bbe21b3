-- PostgreSQL takes case and task numbers from sequences from this version
-- on. SQLite keeps number_counters: its writers hold the database's write
-- lock until commit anyway.
SELECT 1;
