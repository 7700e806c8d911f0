//! Scoring a target text after a context by its log-probability under the model: the probes of
//! Chang et al. 2024 §2 and the options of multiple-choice questions share one batched scorer.
//!
//! Chang et al.'s probes: the scored text is prompt + " " + target, the target is tokenized on
//! its own as " " + target (no special tokens), and ℓ is the mean log-probability of the target
//! tokens; the first target token's log-probability is kept too.

use std::fmt::Display;

use candle_core::{CpuStorage, Device, Storage, Tensor};
use factlab_artifacts::{Probe, ProbeKind};
use tokenizers::Tokenizer;

use crate::kernels::log_sum_exp;
use crate::{Llama, ModelError, Result};

/// Token ids of a context followed by a target: `ids[..target_start]` is the context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Continuation {
    pub ids: Vec<u32>,
    pub target_start: usize,
}

/// A probe turned into token ids: `ids[..target_start]` is the context, the rest the target.
#[derive(Clone, Debug)]
pub struct EncodedProbe {
    pub probe_id: u32,
    pub knowledge_id: u32,
    pub kind: ProbeKind,
    pub ids: Vec<u32>,
    pub target_start: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProbeScore {
    pub probe_id: u32,
    pub knowledge_id: u32,
    pub kind: ProbeKind,
    /// Mean log-probability of the target tokens (nats per token).
    pub target_logprob: f64,
    pub first_token_logprob: f64,
    pub target_tokens: u32,
}

/// Tokenizes `context` and `target` separately (no special tokens), so the target's tokens are
/// its own whatever precedes it, with `prefix` (the end-of-text id that precedes every document
/// in the shards) before the context so that it starts as training text does. Sequences longer
/// than `max_len` lose tokens from the left; the target is always kept whole. `what` names the
/// item in errors.
pub fn encode_continuation(
    tokenizer: &Tokenizer,
    prefix: Option<u32>,
    context: &str,
    target: &str,
    max_len: usize,
    what: &dyn Display,
) -> Result<Continuation> {
    let encode = |text: &str| -> Result<Vec<u32>> {
        tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| ModelError::Other(format!("tokenizing {what}: {e}")))
    };
    let mut ids: Vec<u32> = prefix.into_iter().collect();
    ids.extend(encode(context)?);
    let target_ids = encode(target)?;
    if target_ids.is_empty() || target_ids.len() >= max_len {
        return Err(ModelError::Other(format!(
            "{what}: target `{}` has {} tokens; expected 1 to {}",
            target.trim_start(),
            target_ids.len(),
            max_len - 1
        )));
    }
    let excess = (ids.len() + target_ids.len()).saturating_sub(max_len);
    ids.drain(..excess.min(ids.len()));
    if ids.is_empty() {
        return Err(ModelError::Other(format!(
            "{what}: no context token before the target"
        )));
    }
    let target_start = ids.len();
    ids.extend(target_ids);
    Ok(Continuation { ids, target_start })
}

/// Tokenizes probes once, each as prompt then " " + target (see [`encode_continuation`]).
pub fn encode_probes(
    tokenizer: &Tokenizer,
    probes: &[Probe],
    prefix: Option<u32>,
    max_len: usize,
) -> Result<Vec<EncodedProbe>> {
    probes
        .iter()
        .map(|probe| {
            let Continuation { ids, target_start } = encode_continuation(
                tokenizer,
                prefix,
                &probe.prompt,
                &format!(" {}", probe.target),
                max_len,
                &format_args!("probe {}", probe.id),
            )?;
            Ok(EncodedProbe {
                probe_id: probe.id,
                knowledge_id: probe.knowledge_id,
                kind: probe.kind,
                ids,
                target_start,
            })
        })
        .collect()
}

/// Scores every probe with `model` (build it with gradients off), `batch_size` probes per
/// forward pass (see [`target_logprobs`]).
pub fn score_probes(
    model: &Llama,
    probes: &[EncodedProbe],
    batch_size: usize,
    device: &Device,
) -> Result<Vec<ProbeScore>> {
    let sequences: Vec<(&[u32], usize)> = probes
        .iter()
        .map(|p| (p.ids.as_slice(), p.target_start))
        .collect();
    let logprobs = target_logprobs(model, &sequences, batch_size, device, |_| {})?;
    Ok(probes
        .iter()
        .zip(logprobs)
        .map(|(probe, target)| ProbeScore {
            probe_id: probe.probe_id,
            knowledge_id: probe.knowledge_id,
            kind: probe.kind,
            target_logprob: target.iter().sum::<f64>() / target.len() as f64,
            first_token_logprob: target[0],
            target_tokens: target.len() as u32,
        })
        .collect())
}

/// The log-probability (nats) of each target token of every `(ids, target_start)` sequence given
/// the tokens before it, computed with `model` (build it with gradients off), `batch_size`
/// sequences per forward pass; rows are padded on the right, which a causal model never looks
/// at. Sequences are batched in order of length, so that little of a batch is padding, and the
/// results come back in the given order. The output layer and its normalisation run only at the
/// positions that predict a target token. `progress` is told how many sequences each finished
/// batch held.
pub fn target_logprobs(
    model: &Llama,
    sequences: &[(&[u32], usize)],
    batch_size: usize,
    device: &Device,
    mut progress: impl FnMut(usize),
) -> Result<Vec<Vec<f64>>> {
    if let Some(index) = sequences
        .iter()
        .position(|&(ids, start)| start == 0 || start >= ids.len())
    {
        return Err(ModelError::Other(format!(
            "sequence {index}: expected at least one context token and one target token"
        )));
    }
    let mut by_length: Vec<usize> = (0..sequences.len()).collect();
    by_length.sort_by_key(|&i| sequences[i].0.len());
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); sequences.len()];
    for chunk in by_length.chunks(batch_size.max(1)) {
        let batch: Vec<(&[u32], usize)> = chunk.iter().map(|&i| sequences[i]).collect();
        let width = batch.iter().map(|(ids, _)| ids.len()).max().unwrap_or(0) - 1;
        let flat: Vec<u32> = batch
            .iter()
            .flat_map(|(ids, _)| {
                ids[..ids.len() - 1]
                    .iter()
                    .copied()
                    .chain(std::iter::repeat(0))
                    .take(width)
            })
            .collect();
        let inputs = Tensor::from_vec(flat, (batch.len(), width), device)?;
        // Position i predicts token i + 1: the logits of positions target_start - 1 .. len - 1.
        let positions: Vec<u32> = batch
            .iter()
            .enumerate()
            .flat_map(|(row, &(ids, start))| {
                (start..ids.len()).map(move |i| (row * width + i - 1) as u32)
            })
            .collect();
        let count = positions.len();
        let logits = model
            .logits_at(&inputs, &Tensor::from_vec(positions, count, device)?)?
            .to_device(&Device::Cpu)?
            .contiguous()?;
        let vocab = logits.dim(1)?;
        let (storage, layout) = logits.storage_and_layout();
        let Storage::Cpu(CpuStorage::F32(data)) = &*storage else {
            return Err(ModelError::Other("logits are not f32".into()));
        };
        let mut rows = data[layout.start_offset()..].chunks(vocab);
        for (&index, &(ids, start)) in chunk.iter().zip(&batch) {
            results[index] = ids[start..]
                .iter()
                .map(|&token| {
                    let at = rows.next().expect("one row per target token");
                    f64::from(at[token as usize] - log_sum_exp(at))
                })
                .collect();
        }
        progress(chunk.len());
    }
    Ok(results)
}
