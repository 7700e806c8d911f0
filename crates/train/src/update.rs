//! One optimizer update: gradients of the batch's mean loss, summed over micro-batches, clipped
//! by global norm, applied by AdamW. Rows with a loss mask count only their flagged tokens.

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use factlab_artifacts::ShardRow;
use factlab_model::{global_norm, ids_tensor, AdamW, Llama, Params};

pub struct StepSettings {
    pub micro_batch: usize,
    /// Global gradient-norm clip; 0 turns clipping off.
    pub grad_clip: f64,
    pub lr: f64,
}

/// Returns the batch's mean loss and the gradient norm before clipping. The mean is over all
/// predictions, or with loss masks over the batch's flagged tokens, so that micro-batches with
/// more answer tokens weigh more.
pub fn gradient_step(
    model: &Llama,
    params: &Params,
    optimizer: &mut AdamW,
    rows: &[ShardRow],
    settings: StepSettings,
    device: &Device,
) -> Result<(f64, f64)> {
    let masked = rows.iter().any(|r| !r.loss_mask.is_empty());
    let batch_targets: usize = rows.iter().map(counted_targets).sum();
    if masked && batch_targets == 0 {
        bail!(
            "step {}: the loss mask flags no token of the batch",
            rows.first().map_or(0, |r| r.step)
        );
    }
    let mut total: Option<Vec<Tensor>> = None;
    let mut loss_sum = 0.0;
    for chunk in rows.chunks(settings.micro_batch.max(1)) {
        let tokens: Vec<Vec<u32>> = chunk.iter().map(|r| r.tokens.clone()).collect();
        let ids = ids_tensor(&tokens, device)?;
        let loss = if masked {
            let positions = target_positions(chunk);
            if positions.is_empty() {
                continue;
            }
            let weight = positions.len() as f64 / batch_targets as f64;
            let count = positions.len();
            let positions = Tensor::from_vec(positions, count, device)?;
            (model.loss_at(&ids, Some(&positions))? * weight)?
        } else {
            (model.loss(&ids)? * (chunk.len() as f64 / rows.len() as f64))?
        };
        loss_sum += f64::from(loss.to_scalar::<f32>()?);
        let grads = params.gradients(&loss.backward()?)?;
        total = Some(match total {
            None => grads,
            Some(sum) => sum
                .iter()
                .zip(&grads)
                .map(|(a, b)| a + b)
                .collect::<candle_core::Result<_>>()?,
        });
    }
    let grads = total.context("empty batch")?;
    let norm = global_norm(&grads)?;
    let clip = settings.grad_clip;
    let grad_scale = if clip > 0.0 && norm > clip {
        clip / (norm + 1e-6)
    } else {
        1.0
    };
    optimizer.update(params, &grads, grad_scale, settings.lr)?;
    Ok((loss_sum, norm))
}

/// Predictions that count in the loss: all `len - 1` of a row without a mask, else those of
/// flagged tokens after the first.
fn counted_targets(row: &ShardRow) -> usize {
    if row.loss_mask.is_empty() {
        row.tokens.len().saturating_sub(1)
    } else {
        row.loss_mask.iter().skip(1).filter(|&&f| f).count()
    }
}

/// Indices into a chunk's flattened predictions (`row · (seq - 1) + t`, where position t
/// predicts token t + 1) of those that count.
fn target_positions(rows: &[ShardRow]) -> Vec<u32> {
    rows.iter()
        .enumerate()
        .flat_map(|(index, row)| {
            let predictions = row.tokens.len() - 1;
            (0..predictions)
                .filter(move |&t| row.loss_mask.is_empty() || row.loss_mask[t + 1])
                .map(move |t| (index * predictions + t) as u32)
        })
        .collect()
}
