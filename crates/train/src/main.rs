use std::process::ExitCode;

use clap::Parser;

/// Exit status 1 for errors; [`train::inputs::INPUTS_CHANGED_EXIT`] (3) when `--resume` finds
/// that the run's shards, tokenizer or probes changed since it started.
fn main() -> ExitCode {
    match train::cli::run(train::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error:?}");
            if train::inputs::inputs_changed(&error) {
                ExitCode::from(train::inputs::INPUTS_CHANGED_EXIT)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
