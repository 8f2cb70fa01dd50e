//! Custom solver example (in progress).
