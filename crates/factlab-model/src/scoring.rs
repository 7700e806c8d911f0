//! Scoring a target text after a context by its log-probability under the model: the probes of
//! Chang et al. 2024 §2 and the options of multiple-choice questions share one batched scorer.
//!
//! Chang et al.'s probes: the scored text is prompt + " " + target, the target is tokenized on
//! its own as " " + target (no special tokens), and ℓ is the mean log-probability of the target
//! tokens; the first target token's log-probability is kept too.
//!
//! A probe's foil (see [`add_foils`]) is another knowledge item's target of the same kind scored
//! after the probe's own prompt: how likely the model finds a wrong answer of the right kind, so
//! that a gain in ℓ can be told apart from learning the kind of answer a prompt takes.

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

impl Continuation {
    fn target(&self) -> &[u32] {
        &self.ids[self.target_start..]
    }

    fn score(&self, logprobs: &[f64]) -> TargetScore {
        debug_assert_eq!(logprobs.len(), self.target().len());
        TargetScore {
            target_logprob: logprobs.iter().sum::<f64>() / logprobs.len() as f64,
            first_token_logprob: logprobs[0],
            target_tokens: logprobs.len() as u32,
        }
    }
}

/// A probe turned into token ids: `text.ids[..text.target_start]` is the context (the prompt),
/// the rest the target.
#[derive(Clone, Debug)]
pub struct EncodedProbe {
    pub probe_id: u32,
    pub knowledge_id: u32,
    pub kind: ProbeKind,
    pub text: Continuation,
    /// The foil's probe id and the probe's prompt followed by the foil's target, once
    /// [`add_foils`] chose one.
    pub foil: Option<(u32, Continuation)>,
}

/// How likely a target is after its context.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TargetScore {
    /// Mean log-probability of the target tokens (nats per token).
    pub target_logprob: f64,
    pub first_token_logprob: f64,
    pub target_tokens: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProbeScore {
    pub probe_id: u32,
    pub knowledge_id: u32,
    pub kind: ProbeKind,
    pub target: TargetScore,
    /// The foil's probe id and its target's score after this probe's prompt.
    pub foil: Option<(u32, TargetScore)>,
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
    join(ids, &target_ids, max_len, what)
}

/// `context` then `target` (1 to `max_len - 1` tokens), the context losing tokens from the left
/// where the two exceed `max_len`.
fn join(
    mut context: Vec<u32>,
    target: &[u32],
    max_len: usize,
    what: &dyn Display,
) -> Result<Continuation> {
    let excess = (context.len() + target.len()).saturating_sub(max_len);
    context.drain(..excess.min(context.len()));
    if context.is_empty() {
        return Err(ModelError::Other(format!(
            "{what}: no context token before the target"
        )));
    }
    let target_start = context.len();
    context.extend_from_slice(target);
    Ok(Continuation {
        ids: context,
        target_start,
    })
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
            Ok(EncodedProbe {
                probe_id: probe.id,
                knowledge_id: probe.knowledge_id,
                kind: probe.kind,
                text: encode_continuation(
                    tokenizer,
                    prefix,
                    &probe.prompt,
                    &format!(" {}", probe.target),
                    max_len,
                    &format_args!("probe {}", probe.id),
                )?,
                foil: None,
            })
        })
        .collect()
}

/// Gives every probe its foil: among the probes of the same kind from other knowledge items, the
/// one whose target has the nearest number of tokens (ties: the shorter target, then the smaller
/// probe id), its target placed after this probe's prompt (which loses tokens from the left if
/// the two exceed `max_len`). A probe whose kind no other knowledge item has keeps no foil.
pub fn add_foils(probes: &mut [EncodedProbe], max_len: usize) -> Result<()> {
    let chosen: Vec<Option<usize>> = probes
        .iter()
        .map(|probe| {
            let length = probe.text.target().len();
            (0..probes.len())
                .filter(|&j| {
                    probes[j].kind == probe.kind && probes[j].knowledge_id != probe.knowledge_id
                })
                .min_by_key(|&j| {
                    let other = probes[j].text.target().len();
                    (other.abs_diff(length), other, probes[j].probe_id)
                })
        })
        .collect();
    for (i, foil) in chosen.into_iter().enumerate() {
        let Some(j) = foil else { continue };
        let context = probes[i].text.ids[..probes[i].text.target_start].to_vec();
        let what = format_args!(
            "probe {} with the target of probe {} as its foil",
            probes[i].probe_id, probes[j].probe_id
        );
        let text = join(context, probes[j].text.target(), max_len, &what)?;
        probes[i].foil = Some((probes[j].probe_id, text));
    }
    Ok(())
}

/// Scores every probe, and with `foils` its foil where it has one, with `model` (build it with
/// gradients off), `batch_size` sequences per forward pass (see [`target_logprobs`]): foils and
/// probes share the batches, which a foil of about its probe's length packs with little padding.
pub fn score_probes(
    model: &Llama,
    probes: &[EncodedProbe],
    foils: bool,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<ProbeScore>> {
    fn foil_of(probe: &EncodedProbe, foils: bool) -> Option<&(u32, Continuation)> {
        probe.foil.as_ref().filter(|_| foils)
    }
    let foil_texts: Vec<&Continuation> = probes
        .iter()
        .filter_map(|p| foil_of(p, foils).map(|(_, text)| text))
        .collect();
    let sequences: Vec<(&[u32], usize)> = probes
        .iter()
        .map(|p| &p.text)
        .chain(foil_texts)
        .map(|text| (text.ids.as_slice(), text.target_start))
        .collect();
    let logprobs = target_logprobs(model, &sequences, batch_size, device, |_| {})?;
    let (own, mut foil_logprobs) = logprobs.split_at(probes.len());
    Ok(probes
        .iter()
        .zip(own)
        .map(|(probe, logprobs)| ProbeScore {
            probe_id: probe.probe_id,
            knowledge_id: probe.knowledge_id,
            kind: probe.kind,
            target: probe.text.score(logprobs),
            foil: foil_of(probe, foils).map(|(id, text)| {
                let (first, rest) = foil_logprobs.split_first().expect("one score per foil");
                foil_logprobs = rest;
                (*id, text.score(first))
            }),
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
