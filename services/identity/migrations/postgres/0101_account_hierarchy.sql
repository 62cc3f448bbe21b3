-- The account hierarchy as a closure table (R3.1): one row per (ancestor,
-- descendant) pair, including each account with itself at depth 0, so
-- ancestors and descendants (DESC(a)) are one indexed range read each, however
-- deep or wide the tree. Rows are written in the transaction that inserts or
-- moves an account; accounts.parent_id stays the source of the parent itself.
-- No foreign keys on purpose: every row is derived from existing accounts in
-- the writing transaction and accounts are never deleted, while the two
-- checks per row would more than double the cost of moving a large subtree.
CREATE TABLE account_ancestors (
    ancestor_id UUID NOT NULL,
    descendant_id UUID NOT NULL,
    depth BIGINT NOT NULL CHECK (depth >= 0),
    -- Descendants of an account, ordered by id (the order of ListAccountDescendants).
    PRIMARY KEY (ancestor_id, descendant_id)
);
-- Ancestors of an account, nearest first; an account has one ancestor per depth.
CREATE UNIQUE INDEX account_ancestors_by_descendant ON account_ancestors (descendant_id, depth) INCLUDE (ancestor_id);

-- Every hierarchy write updates this row first, so writers that read the tree
-- and then change it (the cycle check of a move) run one at a time.
CREATE TABLE account_hierarchy_lock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO account_hierarchy_lock (id, version) VALUES (1, 0);

-- Accounts created before this migration get their paths from parent_id.
WITH RECURSIVE paths (ancestor_id, descendant_id, depth) AS (
    SELECT id, id, 0::BIGINT FROM accounts
    UNION ALL
    SELECT account.parent_id, paths.descendant_id, paths.depth + 1
    FROM paths JOIN accounts account ON account.id = paths.ancestor_id
    WHERE account.parent_id IS NOT NULL
)
INSERT INTO account_ancestors (ancestor_id, descendant_id, depth)
SELECT ancestor_id, descendant_id, depth FROM paths;
