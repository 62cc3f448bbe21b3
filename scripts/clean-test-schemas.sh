#!/usr/bin/env bash
# Drops the per-test schemas (csmt_*) an interrupted test run left behind.
set -euo pipefail
url="${CSM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
psql "$url" -qAt -v ON_ERROR_STOP=1 <<'SQL'
DO $$
DECLARE schema_name text;
BEGIN
  FOR schema_name IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'csmt\_%' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', schema_name);
  END LOOP;
END $$;
SQL
