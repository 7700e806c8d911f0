use crate::flat::flat_artifact;
use crate::ProbeKind;

flat_artifact! {
    /// One probe scored at one step of a run, with its foil: another knowledge item's target of
    /// the same kind scored under this probe's prompt (all four `foil_` fields are `None` together:
    /// no foil was scored for the row).
    LogprobRow = "logprobs" {
        run_id: String,
        step: u32,
        probe_id: u32,
        knowledge_id: u32,
        kind: ProbeKind,
        target_logprob: f64,
        first_token_logprob: f64,
        target_tokens: u32,
        /// The probe whose target is this row's foil.
        foil_probe_id: Option<u32>,
        /// Mean log-probability of the foil's target tokens after this probe's prompt.
        foil_target_logprob: Option<f64>,
        foil_first_token_logprob: Option<f64>,
        foil_target_tokens: Option<u32>,
    }
}
