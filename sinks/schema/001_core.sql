-- Core tables. `{db}` is replaced by the (validated) database name by `signals migrate`.
-- All engines are ReplacingMergeTree: replays and at-least-once redelivery collapse to one row per
-- key at the highest `version` (see sinks/version.py); reads use FINAL.
-- non_replicated_deduplication_window makes insert_deduplication_token work without replication.

CREATE TABLE IF NOT EXISTS {db}.trajectories
(
    trajectory_id    String,
    tenant_id        LowCardinality(String),
    agent_id         LowCardinality(String),
    app_id           LowCardinality(String),
    model            LowCardinality(String),
    pipeline_version LowCardinality(String),
    version          UInt64,
    final            UInt8,
    quality          LowCardinality(String),
    quality_score    Float32,
    triage_score     Float32,
    signal_types     Array(LowCardinality(String)),
    signal_counts    Map(LowCardinality(String), UInt32),
    category_counts  Map(LowCardinality(String), UInt32),
    events           UInt32,
    user_turns       UInt32,
    assistant_turns  UInt32,
    tool_calls       UInt32,
    tool_errors      UInt32,
    first_ts         DateTime64(3, 'UTC'),  -- 1970-01-01 when unknown
    last_ts          DateTime64(3, 'UTC'),
    record           String CODEC(ZSTD(3)),  -- the full TrajectoryReport as JSON
    inserted_at      DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX signal_types_bf signal_types TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(first_ts)
ORDER BY (tenant_id, agent_id, toDate(first_ts), xxHash32(trajectory_id), trajectory_id)
SAMPLE BY xxHash32(trajectory_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- The latest record of each trajectory per pipeline version, side by side: `trajectories` serves
-- the newest version, this table serves comparisons between versions and reads of an older one.
CREATE TABLE IF NOT EXISTS {db}.trajectory_versions AS {db}.trajectories
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(first_ts)
ORDER BY (trajectory_id, pipeline_version, xxHash32(trajectory_id))  -- the hash: SAMPLE BY is inherited
SAMPLE BY xxHash32(trajectory_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS {db}.signals
(
    trajectory_id    String,
    tenant_id        LowCardinality(String),
    agent_id         LowCardinality(String),
    pipeline_version LowCardinality(String),
    version          UInt64,
    signal_type      LowCardinality(String),
    category         LowCardinality(String),
    layer            LowCardinality(String),
    idx              UInt32,  -- seq of the event the signal points at
    confidence       Float32,
    snippet          String,
    tool             LowCardinality(String),
    metadata         String,  -- JSON object
    ts               DateTime64(3, 'UTC'),  -- time of that event (else the record's last event)
    inserted_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (trajectory_id, signal_type, idx)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS {db}.events
(
    trajectory_id String,
    seq           UInt32,
    kind          LowCardinality(String),
    ts            DateTime64(3, 'UTC'),
    tenant_id     LowCardinality(String),
    agent_id      LowCardinality(String),
    payload       String CODEC(ZSTD(3)),  -- the event as JSON (detectors.model wire format)
    inserted_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (trajectory_id, seq)
SETTINGS non_replicated_deduplication_window = 1000;
