use crate::flat::flat_artifact;

flat_artifact! {
    /// One optimizer step of a `train` run.
    TrainLogRow = "train-log" {
        step: u32,
        loss: f64,
        lr: f64,
        grad_norm: f64,
        /// Tokens trained on up to and including this step, in this run's step numbering.
        tokens: u64,
        /// Wall-clock throughput of this step; the only column that differs between identical runs.
        tokens_per_s: f64,
    }
}
