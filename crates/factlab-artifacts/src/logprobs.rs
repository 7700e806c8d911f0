use crate::flat::flat_artifact;
use crate::ProbeKind;

flat_artifact! {
    /// One probe scored at one step of a run.
    LogprobRow = "logprobs" {
        run_id: String,
        step: u32,
        probe_id: u32,
        knowledge_id: u32,
        kind: ProbeKind,
        target_logprob: f64,
        first_token_logprob: f64,
        target_tokens: u32,
    }
}
