//! Probe scoring as in Chang et al. 2024 §2: the scored text is prompt + " " + target, the target
//! is tokenized on its own as " " + target (no special tokens), and ℓ is the mean log-probability
//! of the target tokens; the first target token's log-probability is kept too.

use candle_core::{CpuStorage, Device, Storage, Tensor};
use factlab_artifacts::{Probe, ProbeKind};
use tokenizers::Tokenizer;

use crate::kernels::log_sum_exp;
use crate::{Llama, ModelError, Result};

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

/// Tokenizes probes once. `prefix` (the end-of-text id that precedes every document in the
/// shards) is put before the prompt so a probe starts as training text does. Sequences longer
/// than `max_len` lose tokens from the left; the target is always kept whole.
pub fn encode_probes(
    tokenizer: &Tokenizer,
    probes: &[Probe],
    prefix: Option<u32>,
    max_len: usize,
) -> Result<Vec<EncodedProbe>> {
    let encode = |text: &str, probe: &Probe| -> Result<Vec<u32>> {
        tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| ModelError::Other(format!("tokenizing probe {}: {e}", probe.id)))
    };
    probes
        .iter()
        .map(|probe| {
            let mut ids: Vec<u32> = prefix.into_iter().collect();
            ids.extend(encode(&probe.prompt, probe)?);
            let target = encode(&format!(" {}", probe.target), probe)?;
            if target.is_empty() || target.len() >= max_len {
                return Err(ModelError::Other(format!(
                    "probe {}: target `{}` has {} tokens; expected 1 to {}",
                    probe.id,
                    probe.target,
                    target.len(),
                    max_len - 1
                )));
            }
            let excess = (ids.len() + target.len()).saturating_sub(max_len);
            ids.drain(..excess.min(ids.len()));
            if ids.is_empty() {
                return Err(ModelError::Other(format!(
                    "probe {}: no context token before the target",
                    probe.id
                )));
            }
            let target_start = ids.len();
            ids.extend(target);
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
/// forward pass; rows are padded on the right, which a causal model never looks at. Probes are
/// batched in order of length, so that little of a batch is padding, and the scores come back
/// in the given order. The output layer and its normalisation run only at the positions that
/// predict a target token.
pub fn score_probes(
    model: &Llama,
    probes: &[EncodedProbe],
    batch_size: usize,
    device: &Device,
) -> Result<Vec<ProbeScore>> {
    let mut by_length: Vec<usize> = (0..probes.len()).collect();
    by_length.sort_by_key(|&i| probes[i].ids.len());
    let mut scores: Vec<Option<ProbeScore>> = vec![None; probes.len()];
    for chunk in by_length.chunks(batch_size.max(1)) {
        let batch: Vec<&EncodedProbe> = chunk.iter().map(|&i| &probes[i]).collect();
        let width = batch.iter().map(|p| p.ids.len()).max().unwrap_or(0) - 1;
        let flat: Vec<u32> = batch
            .iter()
            .flat_map(|p| {
                p.ids[..p.ids.len() - 1]
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
            .flat_map(|(row, p)| {
                (p.target_start..p.ids.len()).map(move |i| (row * width + i - 1) as u32)
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
        for (&index, probe) in chunk.iter().zip(&batch) {
            let target: Vec<f64> = probe.ids[probe.target_start..]
                .iter()
                .map(|&token| {
                    let at = rows.next().expect("one row per target token");
                    f64::from(at[token as usize] - log_sum_exp(at))
                })
                .collect();
            scores[index] = Some(ProbeScore {
                probe_id: probe.probe_id,
                knowledge_id: probe.knowledge_id,
                kind: probe.kind,
                target_logprob: target.iter().sum::<f64>() / target.len() as f64,
                first_token_logprob: target[0],
                target_tokens: target.len() as u32,
            });
        }
    }
    Ok(scores
        .into_iter()
        .map(|score| score.expect("every probe is in one batch"))
        .collect())
}
