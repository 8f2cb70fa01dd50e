//! Integration tests of nn-layers (one binary).

mod common;
mod dynamics;
mod files;
mod layers;
mod losses;
mod optim;
mod training;
