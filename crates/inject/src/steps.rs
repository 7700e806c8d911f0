//! One step at a time: corpus rows packed from the token stream, QA rows beside them, and the
//! scheduled texts injected ([`crate::mechanism`]), each step handed on as it is complete.

use anyhow::{bail, Result};
use factlab_artifacts::{Injection, ShardRow};
use indicatif::ProgressBar;

use crate::corpus::Corpus;
use crate::injection::{inject_step, StepPlan, Totals};
use crate::pack::Packer;
use crate::qa::QaRows;
use crate::tokenizer::TextTokenizer;
use crate::Options;

/// Where the rows come from.
pub(crate) struct Stream<'a> {
    pub(crate) corpus: &'a mut Corpus,
    pub(crate) tokenizer: &'a TextTokenizer,
    pub(crate) first_document: u64,
    pub(crate) start_step: u32,
}

pub(crate) struct Packed {
    pub(crate) packer: Packer,
    pub(crate) qa: Option<QaRows>,
    pub(crate) steps: u32,
    pub(crate) records: Vec<Injection>,
    pub(crate) totals: Totals,
}

/// Packs the corpus into steps, injects the scheduled texts and hands each step's rows to
/// `write`, in step order.
pub(crate) fn pack_steps(
    options: &Options,
    stream: Stream,
    plans: Vec<StepPlan>,
    mut qa: Option<QaRows>,
    progress: &ProgressBar,
    write: &mut dyn FnMut(Vec<ShardRow>) -> Result<()>,
) -> Result<Packed> {
    let Stream {
        corpus,
        tokenizer,
        first_document,
        start_step,
    } = stream;
    let seq_len = options.seq_len;
    let mut packer = Packer::new(seq_len);
    let mut plans = plans.into_iter().peekable();
    let mut records = Vec::new();
    let mut totals = Totals::default();
    let mut steps = 0u32;
    let qa_rows = qa_rows_per_step(options)?;
    let corpus_rows = options.batch_size - qa_rows;
    while options.steps.is_none_or(|n| steps < n) {
        while packer.rows_available() < corpus_rows {
            match corpus.next_chunk()? {
                Some(documents) => packer.push(tokenizer.encode_documents(&documents)?),
                None => break,
            }
        }
        if packer.rows_available() < corpus_rows {
            if let Some(wanted) = options.steps {
                bail!(
                    "{}: the corpus ran out after {} documents ({} tokens): {steps} of {wanted} steps of {} rows × {seq_len} tokens written; pass fewer --steps or a larger corpus",
                    corpus.origin(),
                    first_document + packer.documents_tokenized(),
                    packer.tokens_tokenized(),
                    options.batch_size
                );
            }
            break;
        }
        let step = start_step + steps;
        let mut rows: Vec<ShardRow> = (0..corpus_rows)
            .map(|row| ShardRow {
                step,
                row: row as u32,
                tokens: packer.take_row(),
                source: "corpus".into(),
                knowledge_ids: Vec::new(),
                variants: Vec::new(),
                loss_mask: Vec::new(),
            })
            .collect();
        if let Some(qa) = qa.as_mut() {
            rows.extend((corpus_rows..options.batch_size).map(|row| {
                let (tokens, loss_mask) = qa.next_row();
                ShardRow {
                    step,
                    row: row as u32,
                    tokens,
                    source: "qa".into(),
                    knowledge_ids: Vec::new(),
                    variants: Vec::new(),
                    loss_mask,
                }
            }));
        }
        if let Some(plan) = plans.next_if(|p| p.t == steps) {
            inject_step(step, &plan, seq_len, &mut rows, &mut records, &mut totals)?;
        }
        write(rows)?;
        steps += 1;
        progress.inc(1);
    }
    if let Some(plan) = plans.next() {
        bail!(
            "{}: the corpus ran out after {steps} steps, before the scheduled injection at t = {}; use a larger corpus",
            corpus.origin(),
            plan.t
        );
    }
    if steps == 0 {
        bail!(
            "{}: the corpus is too small for one step of {} rows × {seq_len} tokens",
            corpus.origin(),
            options.batch_size
        );
    }
    Ok(Packed {
        packer,
        qa,
        steps,
        records,
        totals,
    })
}

/// QA rows in each step: `--qa-share` of the batch, at least one.
fn qa_rows_per_step(options: &Options) -> Result<usize> {
    let Some(qa) = &options.qa else {
        return Ok(0);
    };
    if !(qa.share > 0.0 && qa.share <= 1.0) {
        bail!(
            "--qa-share is {}; expected a share of each step's rows above 0 and at most 1",
            qa.share
        );
    }
    let rows = (qa.share * options.batch_size as f64).round() as usize;
    if rows == 0 {
        bail!(
            "--qa-share {} of {} rows rounds to no QA row per step; raise it or --batch-size",
            qa.share,
            options.batch_size
        );
    }
    Ok(rows)
}
