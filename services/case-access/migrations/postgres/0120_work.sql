-- Comments, attachments and the R1.16 rate-limit counters (case updates,
-- tasks and email intake use the tables of 0100).

-- Journal entries of cases and case tasks (R4.2, R4.4, R4.18, R4.21).
CREATE TABLE case_comments (
    id UUID PRIMARY KEY,                     -- v7: keyset pagination oldest first
    case_id UUID NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    case_task_id UUID REFERENCES case_tasks (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('ADDITIONAL_COMMENT', 'WORK_NOTE')),
    body TEXT NOT NULL,
    author_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX case_comments_case ON case_comments (case_id, id);
CREATE INDEX case_comments_task ON case_comments (case_task_id, id);

-- Attachment metadata; the content lives in a blob store (R4.2, R1.16).
CREATE TABLE case_attachments (
    id UUID PRIMARY KEY,
    case_id UUID NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    case_task_id UUID REFERENCES case_tasks (id) ON DELETE CASCADE,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL DEFAULT '',
    size_bytes BIGINT NOT NULL DEFAULT 0,
    content_uri TEXT NOT NULL,
    sha256 TEXT NOT NULL DEFAULT '',
    uploaded_by_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX case_attachments_case ON case_attachments (case_id, id);
CREATE INDEX case_attachments_task ON case_attachments (case_task_id, id);

-- R1.16 limits of external unified consumers: one counter per (limit, principal,
-- record, period). A write takes a unit with a conditional upsert in its own
-- transaction, so concurrent requests can never pass the limit.
-- period is the UTC day ('2026-11-23') for daily limits, '' for per-record limits.
CREATE TABLE rate_limit_counters (
    scope TEXT NOT NULL CHECK (scope IN ('new_cases', 'comments', 'attachments')),
    profile_id UUID NOT NULL,
    record_id TEXT NOT NULL,
    period TEXT NOT NULL,
    used BIGINT NOT NULL,
    PRIMARY KEY (scope, profile_id, record_id, period)
);
