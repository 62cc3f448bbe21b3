-- Case and task numbers from sequences (issue 15): the number_counters row
-- was the first write of every CreateCase and held its lock until commit, so
-- case creations queued one commit at a time. Numbers stay unique and
-- increasing; one taken by a transaction that rolls back is not reused.
CREATE SEQUENCE number_case AS BIGINT CACHE 1;
CREATE SEQUENCE number_case_task AS BIGINT CACHE 1;
SELECT setval('number_case', next_value, false) FROM number_counters WHERE kind = 'case';
SELECT setval('number_case_task', next_value, false) FROM number_counters WHERE kind = 'case_task';
DROP TABLE number_counters;
