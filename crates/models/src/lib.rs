//! Neural ODE models, built-in data sets and training loops.
//!
//! - [`spiral`]: the spiral task of the paper's introductory demonstration (built-in data).
#![deny(missing_docs)]

pub mod spiral;
