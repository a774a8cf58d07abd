//! The logical backup engine (pybackup, seed 003). To be written (issue 16).
