-- Reviewers' labels (the review page, `signals serve`): one row per reviewer and trajectory, the
-- latest wins (ReplacingMergeTree by labelled_at), so labelling again replaces, never adds; reads use
-- FINAL. `pipeline_version` is the version of the record the reviewer saw. No insert dedup window:
-- labelling failure, fine, then failure again must keep the third insert.
CREATE TABLE IF NOT EXISTS {db}.labels
(
    trajectory_id    String,
    pipeline_version LowCardinality(String),
    reviewer         LowCardinality(String),
    label            LowCardinality(String),
    note             String,
    labelled_at      DateTime64(3, 'UTC'),
    CONSTRAINT label_known CHECK label IN ('failure', 'fine', 'informative')
)
ENGINE = ReplacingMergeTree(labelled_at)
ORDER BY (trajectory_id, reviewer);
