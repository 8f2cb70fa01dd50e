//! Integration tests of the adjoint crate (one binary).

mod batch;
mod common;
mod errors;
mod linear;
mod mlp;
mod props;
mod quadrature;
