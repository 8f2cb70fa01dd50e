//! Integration tests of the autodiff crate (one binary).

mod common;
mod errors;
mod functional;
mod graph;
mod grad_check;
mod precision;
