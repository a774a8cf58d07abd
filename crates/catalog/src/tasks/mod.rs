//! spiderbackup's task table `infodba_schema.global_backup` (seed 004). To be written (issue 17).
