-- One row per run of dbbackup (a backup) or dbrecover (a recovery),
-- written when the run starts (status `running`) and updated when it
-- ends, so a run that crashed stays visibly `running` with its start
-- time. Every column is documented in crates/catalog/src/physical/mod.rs.
CREATE TABLE IF NOT EXISTS physical_run (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    tool VARCHAR(16) NOT NULL,
    run_type VARCHAR(16) NULL,
    status VARCHAR(16) NOT NULL,
    cluster VARCHAR(255) NOT NULL,
    store VARCHAR(1024) NOT NULL,
    backup_name VARCHAR(64) NULL,
    target VARCHAR(64) NULL,
    servers TEXT NULL,
    bytes BIGINT UNSIGNED NULL,
    consistence_point VARCHAR(32) NULL,
    started_at DATETIME(3) NOT NULL,
    ended_at DATETIME(3) NULL,
    elapsed_secs DOUBLE NULL,
    error TEXT NULL,
    controller VARCHAR(255) NOT NULL,
    pid INT UNSIGNED NOT NULL,
    tool_version VARCHAR(64) NOT NULL,
    PRIMARY KEY (id),
    KEY idx_cluster_started (cluster, started_at),
    KEY idx_status_started (status, started_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
