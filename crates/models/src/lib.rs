//! Neural ODE models and training loops.
//!
//! This crate sits at the top of the library stack (see ARCHITECTURE.md and issue 6). It has
//! no public items yet.
