//! Scheduled injections: the plan checked against the knowledge and the step count, its texts
//! tokenized per step, and one step's texts prepended to its rows with a record of each.

use anyhow::{bail, Context, Result};
use factlab_artifacts::{Injection, Knowledge, ShardRow};

use crate::mechanism;
use crate::schedule::{Exposure, Plan, Schedule};
use crate::tokenizer::TextTokenizer;
use crate::InjectOptions;

/// The planned exposures of one continuation step, with their tokens.
pub(crate) struct StepPlan {
    pub(crate) t: u32,
    exposures: Vec<(Exposure, Vec<u32>)>,
}

/// Reads and checks the schedule against the knowledge and the step count, before any slow
/// work, so that a bad schedule fails at once.
pub(crate) fn plan_injections(
    inject: &InjectOptions,
    knowledge: &[Knowledge],
    steps: Option<u32>,
) -> Result<Plan> {
    let schedule = Schedule::load(&inject.schedule, inject.interval, inject.max_per_step)?;
    let plan = schedule.plan(knowledge, &inject.knowledge.display().to_string())?;
    let last = plan.exposures.iter().map(|e| e.t).max().unwrap_or(0);
    if let Some(steps) = steps {
        if steps <= last {
            bail!(
                "{}: the last exposure is at t = {last} (Δ = {}{}), but --steps {steps} gives t = 0..{}; expected --steps {} or more",
                inject.schedule.display(),
                schedule.interval(),
                schedule
                    .max_per_step()
                    .map(|k| format!(", {k} texts per step"))
                    .unwrap_or_default(),
                steps.saturating_sub(1),
                u64::from(last) + 1
            );
        }
    }
    if !plan.never_injected.is_empty() {
        tracing::info!(
            items = plan.never_injected.len(),
            ids = ?plan.never_injected,
            "knowledge items in no scenario group: never injected, they are the control group"
        );
    }
    Ok(plan)
}

/// Tokenizes the exposures' texts, groups them by step and checks that every step's texts fit
/// its batch.
pub(crate) fn tokenize_plan(
    exposures: Vec<Exposure>,
    tokenizer: &TextTokenizer,
    batch_size: usize,
    seq_len: usize,
) -> Result<Vec<StepPlan>> {
    let texts: Vec<&str> = exposures.iter().map(|e| e.text.as_str()).collect();
    let tokens = tokenizer.encode_documents(&texts)?;
    let mut plans: Vec<StepPlan> = Vec::new();
    for (exposure, tokens) in exposures.into_iter().zip(tokens) {
        match plans.last_mut() {
            Some(plan) if plan.t == exposure.t => plan.exposures.push((exposure, tokens)),
            _ => plans.push(StepPlan {
                t: exposure.t,
                exposures: vec![(exposure, tokens)],
            }),
        }
    }
    for plan in &plans {
        let lengths: Vec<usize> = plan.exposures.iter().map(|(_, t)| t.len()).collect();
        mechanism::layout(&lengths, batch_size, seq_len)
            .with_context(|| format!("the schedule at t = {}", plan.t))?;
    }
    Ok(plans)
}

#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) dropped: u64,
    pub(crate) injected_rows: u64,
    pub(crate) cut: u64,
    /// The first cut text, for the one summary line: where it was and how much was kept.
    pub(crate) first_cut: Option<String>,
}

/// Applies one step's plan to its rows, recording where every text went.
pub(crate) fn inject_step(
    step: u32,
    plan: &StepPlan,
    seq_len: usize,
    rows: &mut [ShardRow],
    records: &mut Vec<Injection>,
    totals: &mut Totals,
) -> Result<()> {
    let mut tokens: Vec<Vec<u32>> = rows
        .iter_mut()
        .map(|r| std::mem::take(&mut r.tokens))
        .collect();
    let texts: Vec<&[u32]> = plan.exposures.iter().map(|(_, t)| t.as_slice()).collect();
    let (placements, dropped) = mechanism::prepend(&mut tokens, &texts, seq_len)
        .with_context(|| format!("injecting at step {step} (t = {})", plan.t))?;
    for (row, tokens) in rows.iter_mut().zip(tokens) {
        row.tokens = tokens;
    }
    totals.dropped += dropped;
    let mut step_records = Vec::with_capacity(placements.len());
    for ((exposure, text), placed) in plan.exposures.iter().zip(placements) {
        let row = &mut rows[placed.row];
        if row.knowledge_ids.is_empty() {
            row.source = "injected".into();
            totals.injected_rows += 1;
        }
        row.knowledge_ids.push(exposure.knowledge_id);
        row.variants.push(exposure.variant);
        if placed.length < text.len() {
            totals.cut += 1;
            totals.first_cut.get_or_insert_with(|| {
                format!(
                    "knowledge {} at step {step}, row {}: {} of {} tokens kept",
                    exposure.knowledge_id,
                    placed.row,
                    placed.length,
                    text.len()
                )
            });
            tracing::debug!(
                step,
                row = placed.row,
                knowledge_id = exposure.knowledge_id,
                kept = placed.length,
                tokens = text.len(),
                "injected text cut at the end of its row"
            );
        }
        step_records.push(Injection {
            knowledge_id: exposure.knowledge_id,
            scenario: exposure.scenario.clone(),
            exposure: exposure.exposure,
            step,
            row: placed.row as u32,
            variant: exposure.variant,
            offset: placed.offset as u32,
            length: placed.length as u32,
            text_tokens: text.len() as u32,
        });
    }
    step_records.sort_by_key(|r| (r.row, r.offset));
    records.extend(step_records);
    Ok(())
}
