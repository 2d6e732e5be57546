-- Cohort keys (detectors/cohort.py): the sampling SQL finds each trajectory's peers (runs of the same
-- task, else of the same request) and compares their final state-changing actions (action_sig).
-- Rows written before this migration have empty keys: no peers, trajectory score only.
ALTER TABLE {db}.trajectories
    ADD COLUMN IF NOT EXISTS task_key String DEFAULT '',
    ADD COLUMN IF NOT EXISTS request_key String DEFAULT '',
    ADD COLUMN IF NOT EXISTS context_key LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS action_sig String DEFAULT '';

ALTER TABLE {db}.trajectory_versions
    ADD COLUMN IF NOT EXISTS task_key String DEFAULT '',
    ADD COLUMN IF NOT EXISTS request_key String DEFAULT '',
    ADD COLUMN IF NOT EXISTS context_key LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS action_sig String DEFAULT '';
