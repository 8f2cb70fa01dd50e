//! Integration tests of the autodiff crate (one binary).

mod common;
mod conv;
mod errors;
mod functional;
mod grad_check;
mod graph;
mod precision;
