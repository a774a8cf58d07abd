//! pybackup's `catalogdb` (seed 003). To be written (issue 16).
