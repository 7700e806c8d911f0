//! `inject-summary.json`: what a run read, packed, dropped and injected, and how much of each
//! injection step's batch the injected texts take.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use factlab_artifacts::{Injection, ShardManifest};
use serde::{Deserialize, Serialize};

use crate::shards::MANIFEST;
use crate::{SHARD_FOLDER, SUMMARY_FILE};

/// `inject-summary.json`: what a run consumed and dropped; `--after` reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub corpus: String,
    /// Corpus documents skipped before the first row.
    pub first_document: u64,
    /// The first document no row touched: where a continuation run should start.
    pub next_document: u64,
    /// Documents and tokens (end-of-text included) tokenized, some past the last row.
    pub documents_tokenized: u64,
    pub tokens_tokenized: u64,
    pub start_step: u32,
    pub steps: u32,
    pub rows: u64,
    /// Passes begun over a `--shuffle`d corpus; 0 when it is streamed once in file order.
    #[serde(default)]
    pub corpus_passes: u64,
    /// Corpus tokens that were packed into rows, then (for injected rows) partly pushed out.
    pub corpus_tokens_packed: u64,
    /// Rows of question–answer examples (`--qa`), the pairs they draw from, and passes begun
    /// over those pairs.
    #[serde(default)]
    pub qa_rows: u64,
    #[serde(default)]
    pub qa_pairs: u64,
    #[serde(default)]
    pub qa_passes: u64,
    /// Corpus tokens pushed off the end of injected rows (the paper's mechanism drops them).
    pub dropped_corpus_tokens: u64,
    pub injected_rows: u64,
    pub injections: u64,
    /// Injected texts cut at the end of their row.
    pub cut_injections: u64,
    /// Per injection step, the injected tokens' share of the batch (absent in summaries of
    /// runs without injection).
    #[serde(default)]
    pub injected_share: Vec<InjectedShare>,
    /// Ids of the knowledge items read but in no scenario group: the never-injected control.
    #[serde(default)]
    pub never_injected: Vec<u32>,
}

/// How much of one step's batch is injected text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectedShare {
    pub step: u32,
    /// Tokens of injected texts (end-of-text tokens included) present in the step's rows.
    pub injected_tokens: u64,
    /// `injected_tokens / (batch_size × seq_len)`.
    pub share: f64,
}

/// The injected share of every step that has an injection, in step order.
pub fn injected_shares(
    records: &[Injection],
    batch_size: usize,
    seq_len: usize,
) -> Vec<InjectedShare> {
    let mut per_step = BTreeMap::<u32, u64>::new();
    for record in records {
        *per_step.entry(record.step).or_default() += u64::from(record.length);
    }
    let batch_tokens = (batch_size * seq_len) as f64;
    per_step
        .into_iter()
        .map(|(step, injected_tokens)| InjectedShare {
            step,
            injected_tokens,
            share: injected_tokens as f64 / batch_tokens,
        })
        .collect()
}

/// Above this share of a batch, injection steps are far from the paper's runs (about 1 % of a
/// 2,048-row batch; 12–18 % of the 128-row batch of its Appendix G).
const PAPER_SHARE_LIMIT: f64 = 0.20;

/// Logs the largest and the mean injected share; warns when a step passes the paper's range.
pub fn report_injected_share(shares: &[InjectedShare]) {
    let Some(largest) = shares.iter().max_by(|a, b| a.share.total_cmp(&b.share)) else {
        return;
    };
    let mean = shares.iter().map(|s| s.share).sum::<f64>() / shares.len() as f64;
    let message = format!(
        "injected share of batch tokens: largest {:.1} % (step {}), mean {:.1} % over {} injection steps",
        100.0 * largest.share,
        largest.step,
        100.0 * mean,
        shares.len()
    );
    if largest.share > PAPER_SHARE_LIMIT {
        tracing::warn!(
            "{message}; above {:.0} %, outside the paper's regime (about 1 %, App. G 12–18 %): use larger batches or spread the injections",
            100.0 * PAPER_SHARE_LIMIT
        );
    } else {
        tracing::info!("{message}");
    }
}

pub(crate) struct Previous {
    pub start_step: u32,
    pub next_document: u64,
    pub corpus: String,
    pub tokenizer: PathBuf,
}

pub(crate) fn previous_run(folder: &Path) -> Result<Previous> {
    let manifest_path = folder.join(SHARD_FOLDER).join(MANIFEST);
    let manifest = ShardManifest::load(&manifest_path)
        .with_context(|| format!("--after {}: no complete shards there", folder.display()))?;
    let summary_path = folder.join(SUMMARY_FILE);
    let text = std::fs::read_to_string(&summary_path)
        .with_context(|| format!("{}: cannot read the run summary", summary_path.display()))?;
    let summary: Summary = serde_json::from_str(&text)
        .with_context(|| format!("{}: not an inject summary", summary_path.display()))?;
    let Some(start_step) = manifest.start_step.checked_add(manifest.steps) else {
        bail!(
            "{}: `start_step` {} + `steps` {} overflow a step number",
            manifest_path.display(),
            manifest.start_step,
            manifest.steps
        );
    };
    Ok(Previous {
        start_step,
        next_document: summary.next_document,
        corpus: summary.corpus,
        tokenizer: folder.join(SHARD_FOLDER).join(&manifest.tokenizer),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn injection(step: u32, length: u32) -> Injection {
        Injection {
            knowledge_id: 0,
            scenario: "once".into(),
            exposure: 0,
            step,
            row: 0,
            variant: 0,
            offset: 0,
            length,
            text_tokens: length,
        }
    }

    #[test]
    fn the_share_is_the_injected_tokens_over_the_batch_tokens_per_step() {
        let records = [injection(5, 100), injection(5, 50), injection(9, 30)];
        let shares = injected_shares(&records, 4, 64);
        assert_eq!(
            shares,
            vec![
                InjectedShare {
                    step: 5,
                    injected_tokens: 150,
                    share: 150.0 / 256.0
                },
                InjectedShare {
                    step: 9,
                    injected_tokens: 30,
                    share: 30.0 / 256.0
                }
            ]
        );
        assert!(injected_shares(&[], 4, 64).is_empty());
    }
}
