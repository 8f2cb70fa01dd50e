//! Shared benchmark problems.
