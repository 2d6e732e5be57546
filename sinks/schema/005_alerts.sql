-- Spike alerts (streams/alerts.py): one row per (agent, category, window) that spiked. Alerts depend
-- only on the events, so a redelivered or replayed alert is the same row: ReplacingMergeTree keyed by
-- the window collapses duplicates; reads use FINAL.
CREATE TABLE IF NOT EXISTS {db}.alerts
(
    agent_id         LowCardinality(String),
    category         LowCardinality(String),
    window_start     DateTime('UTC'),
    window_end       DateTime('UTC'),
    count            UInt32,
    baseline         Float64,  -- mean count of the trailing closed windows of this key (0 for missing ones)
    threshold        Float64,  -- what the count had to reach: max(min_count, ratio * max(baseline, floor))
    pipeline_version LowCardinality(String),
    inserted_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (agent_id, category, window_start)
SETTINGS non_replicated_deduplication_window = 1000;
