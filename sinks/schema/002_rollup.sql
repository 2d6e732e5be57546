-- Hourly signal counts per tenant/agent/pipeline version/type.
-- A SummingMergeTree fed by a materialized view would count a replayed or redelivered signal twice
-- (the MV sees every insert, before ReplacingMergeTree collapses anything). Instead the target keeps
-- exact distinct-sets: uniqExact over (trajectory_id, idx) for instances and over trajectory_id for
-- trajectories, so inserting the same signal any number of times counts it once. Rows are keyed by
-- pipeline_version, so compare versions or filter to one; summing across versions counts a
-- trajectory once per version that saw it.
CREATE TABLE IF NOT EXISTS {db}.signal_rollup_hourly
(
    tenant_id        LowCardinality(String),
    agent_id         LowCardinality(String),
    pipeline_version LowCardinality(String),
    signal_type      LowCardinality(String),
    hour             DateTime('UTC'),
    instances        AggregateFunction(uniqExact, String, UInt32),
    trajectories     AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, agent_id, pipeline_version, signal_type, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.signal_rollup_hourly_mv TO {db}.signal_rollup_hourly AS
SELECT
    tenant_id,
    agent_id,
    pipeline_version,
    signal_type,
    toStartOfHour(ts) AS hour,
    uniqExactState(trajectory_id, idx) AS instances,
    uniqExactState(trajectory_id) AS trajectories
FROM {db}.signals
GROUP BY tenant_id, agent_id, pipeline_version, signal_type, hour;
