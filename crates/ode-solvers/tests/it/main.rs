//! Integration tests of the solver crate through its public API.

mod accuracy;
mod bad_input;
mod batch;
mod convergence;
mod error_norm;
mod events;
mod properties;
mod warm_start;
