//! The crate's integration tests, linked into one binary: each file beside this one is a module
//! here, so `cargo test` links the crate's heavy dependencies once, not once per file (a file
//! left undeclared here fails `preset`'s layout test).

mod background;
mod bad_numbers;
mod bios;
mod cli;
mod invariants;
mod lampinen;
mod lampinen_common;
mod lampinen_semantic;
mod sets;
