//! The rows the test files build alike.

use factlab_artifacts::{Injection, LogprobRow, ProbeKind};

/// Paragraph `knowledge_id` injected at `step` (its row of the batch is its id).
pub fn injection(knowledge_id: u32, scenario: &str, exposure: u32, step: u32) -> Injection {
    Injection {
        knowledge_id,
        scenario: scenario.into(),
        exposure,
        step,
        row: knowledge_id,
        variant: 0,
        offset: 0,
        length: 10,
        text_tokens: 10,
    }
}

/// One probe's score at one step of run `run_id`, with no foil.
pub struct Score<'a> {
    pub run_id: &'a str,
    pub step: u32,
    pub probe_id: u32,
    pub knowledge_id: u32,
    pub kind: ProbeKind,
    pub target: f64,
    pub first_token: f64,
}

impl Score<'_> {
    pub fn row(self) -> LogprobRow {
        LogprobRow {
            run_id: self.run_id.to_string(),
            step: self.step,
            probe_id: self.probe_id,
            knowledge_id: self.knowledge_id,
            kind: self.kind,
            target_logprob: self.target,
            first_token_logprob: self.first_token,
            target_tokens: 2,
            foil_probe_id: None,
            foil_target_logprob: None,
            foil_first_token_logprob: None,
            foil_target_tokens: None,
        }
    }
}
