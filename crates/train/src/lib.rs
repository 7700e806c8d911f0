//! `train`: trains the factlab model on shards written by `inject` — from scratch, continued
//! from a checkpoint as in Chang et al. 2024 (`--init`, optionally constant LR, fresh optimizer,
//! steps from 0; full or LoRA finetuning), or resumed exactly after a kill (`--resume`) — and
//! scores probes at scheduled steps into `logprobs.parquet`.

pub mod cli;
mod data;
pub mod inputs;
pub mod lora;
pub mod run;
mod run_folder;
mod state;
pub mod steps;
mod update;

pub use cli::Cli;
pub use run::{RunConfig, Session, Start, TrainState};
