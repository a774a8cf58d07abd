-- spiderbackup's task table (seed 004), one row per server to back up, and
-- the claim of each backup id's cluster-level finish. Every column is
-- documented in crates/catalog/src/tasks/mod.rs and docs/spiderbackup.md.
CREATE TABLE IF NOT EXISTS global_backup (
    Id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    BackupId VARCHAR(64) NOT NULL,
    Host VARCHAR(255) NOT NULL,
    Port INT UNSIGNED NOT NULL,
    ServerName VARCHAR(128) NOT NULL,
    Datasource VARCHAR(128) NOT NULL,
    BackupName VARCHAR(64) NOT NULL,
    BackupStatus VARCHAR(16) NOT NULL DEFAULT 'init',
    TaskPid INT UNSIGNED NULL,
    TaskPidStart BIGINT UNSIGNED NULL,
    WorkerHost VARCHAR(255) NULL,
    CreatedAt DATETIME(3) NOT NULL,
    StartedAt DATETIME(3) NULL,
    EndedAt DATETIME(3) NULL,
    Reason TEXT NULL,
    Plan LONGTEXT NOT NULL,
    Result LONGTEXT NULL,
    PRIMARY KEY (Id),
    UNIQUE KEY uk_backup_server (BackupId, ServerName),
    KEY idx_host_status (Host, BackupStatus),
    KEY idx_status_created (BackupStatus, CreatedAt)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS global_backup_finish (
    BackupId VARCHAR(64) NOT NULL,
    FinishStatus VARCHAR(16) NOT NULL,
    WorkerHost VARCHAR(255) NOT NULL,
    TaskPid INT UNSIGNED NOT NULL,
    TaskPidStart BIGINT UNSIGNED NOT NULL,
    StartedAt DATETIME(3) NOT NULL,
    EndedAt DATETIME(3) NULL,
    Reason TEXT NULL,
    PRIMARY KEY (BackupId)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
