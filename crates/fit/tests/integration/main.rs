//! The crate's integration tests, linked into one binary: each file beside this one is a module
//! here, so `cargo test` links the crate's heavy dependencies once, not once per file (a file
//! left undeclared here fails `preset`'s layout test).

mod authors;
mod bad_numbers;
mod calibration;
mod common;
mod control;
mod linear_probe;
mod metrics;
