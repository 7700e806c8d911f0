//! Greedy decoding for batches of prompts, deterministic whatever the batching: QA answers
//! (Allen-Zhu & Li decode with beam 4 "without sampling", close to greedy) and any later stage
//! that needs a model's own continuation.

use candle_core::{Device, Tensor};

use crate::{Llama, ModelError, Result};

/// When a row stops and how prompts are batched.
#[derive(Clone, Debug)]
pub struct GreedySettings {
    pub max_new_tokens: usize,
    /// Tokens that end a row (kept as its last generated token), e.g. end-of-text.
    pub stop_tokens: Vec<u32>,
    /// Prompts per forward pass.
    pub batch_size: usize,
    /// The model's context (`max_position_embeddings`): a row that fills it stops, since the
    /// rotary tables cover no further position.
    pub context: usize,
}

/// The generated tokens of every prompt, in the given order: at each step the token of highest
/// logit (the lowest id among equals) is appended, until a stop token (kept), `max_new_tokens`
/// or the context.
///
/// There is no key-value cache: every step runs the forward pass over the whole sequence, which
/// at QA lengths costs little. Prompts are batched in order of length and padded on the right;
/// each row's next token is read at its own last position, which a causal model computes from
/// that row's earlier tokens alone, so a prompt's result does not depend on its batch.
/// `progress` is told how many prompts each finished batch held.
pub fn greedy_generate(
    model: &Llama,
    prompts: &[Vec<u32>],
    settings: &GreedySettings,
    device: &Device,
    mut progress: impl FnMut(usize),
) -> Result<Vec<Vec<u32>>> {
    for (index, prompt) in prompts.iter().enumerate() {
        if prompt.is_empty() || prompt.len() >= settings.context {
            return Err(ModelError::Other(format!(
                "prompt {index} has {} tokens; expected 1 to {} (the model's context is {}, and \
                 one position is needed to generate)",
                prompt.len(),
                settings.context.saturating_sub(1),
                settings.context
            )));
        }
    }
    let mut by_length: Vec<usize> = (0..prompts.len()).collect();
    by_length.sort_by_key(|&i| prompts[i].len());
    let mut outputs = vec![Vec::new(); prompts.len()];
    for chunk in by_length.chunks(settings.batch_size.max(1)) {
        let mut rows: Vec<Vec<u32>> = chunk.iter().map(|&i| prompts[i].clone()).collect();
        let mut active: Vec<usize> = if settings.max_new_tokens == 0 {
            Vec::new()
        } else {
            (0..rows.len()).collect()
        };
        while !active.is_empty() {
            let next = next_tokens(model, active.iter().map(|&r| &rows[r]), device)?;
            for (&row, token) in active.iter().zip(next) {
                rows[row].push(token);
            }
            active.retain(|&row| {
                let sequence = &rows[row];
                let generated = sequence.len() - prompts[chunk[row]].len();
                let last = *sequence.last().expect("a token was just appended");
                !(settings.stop_tokens.contains(&last)
                    || generated == settings.max_new_tokens
                    || sequence.len() == settings.context)
            });
        }
        for (row, &index) in rows.into_iter().zip(chunk) {
            outputs[index] = row[prompts[index].len()..].to_vec();
        }
        progress(chunk.len());
    }
    Ok(outputs)
}

/// The argmax token after each sequence.
fn next_tokens<'a>(
    model: &Llama,
    sequences: impl Iterator<Item = &'a Vec<u32>> + Clone,
    device: &Device,
) -> Result<Vec<u32>> {
    let width = sequences.clone().map(Vec::len).max().unwrap_or(0);
    let count = sequences.clone().count();
    let flat: Vec<u32> = sequences
        .clone()
        .flat_map(|s| s.iter().copied().chain(std::iter::repeat(0)).take(width))
        .collect();
    let positions: Vec<u32> = sequences
        .enumerate()
        .map(|(row, s)| (row * width + s.len() - 1) as u32)
        .collect();
    let inputs = Tensor::from_vec(flat, (count, width), device)?;
    let logits = model
        .logits_at(&inputs, &Tensor::from_vec(positions, count, device)?)?
        .to_device(&Device::Cpu)?
        .to_vec2::<f32>()?;
    Ok(logits.iter().map(|row| argmax(row)).collect())
}

/// The index of the largest value, the first one among equals.
fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (index, &value) in values.iter().enumerate() {
        if value > values[best] {
            best = index;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ids_tensor, ModelConfig, Params};

    fn model() -> Llama {
        // A wide initialisation gives decisive logits, so greedy paths differ between prompts.
        let config = ModelConfig {
            hidden_size: 16,
            intermediate_size: 24,
            num_layers: 2,
            num_heads: 2,
            vocab_size: Some(13),
            max_position_embeddings: 24,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            tie_word_embeddings: false,
            initializer_range: 0.5,
            bos_token_id: None,
            eos_token_id: Some(0),
        };
        let params = Params::init(&config, 11, &Device::Cpu).unwrap();
        Llama::new(&config, &params, false).unwrap()
    }

    fn settings(max_new_tokens: usize, stop_tokens: Vec<u32>, batch_size: usize) -> GreedySettings {
        GreedySettings {
            max_new_tokens,
            stop_tokens,
            batch_size,
            context: 24,
        }
    }

    fn prompts() -> Vec<Vec<u32>> {
        vec![
            vec![0, 5, 6, 7, 8, 9, 10],
            vec![0, 3],
            vec![0, 12, 11, 4],
            vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            vec![0, 9],
        ]
    }

    #[test]
    fn greedy_tokens_are_the_argmax_of_the_full_forward_pass_step_by_step() {
        let model = model();
        let generated = greedy_generate(
            &model,
            &prompts(),
            &settings(6, vec![], 2),
            &Device::Cpu,
            |_| {},
        )
        .unwrap();
        for (prompt, tokens) in prompts().iter().zip(&generated) {
            let mut sequence = prompt.clone();
            for _ in 0..6 {
                let logits = model
                    .forward(&ids_tensor(std::slice::from_ref(&sequence), &Device::Cpu).unwrap())
                    .unwrap()
                    .squeeze(0)
                    .unwrap()
                    .to_vec2::<f32>()
                    .unwrap();
                let last = logits.last().unwrap();
                let best = (0..last.len())
                    .max_by(|&a, &b| last[a].total_cmp(&last[b]).then(b.cmp(&a)))
                    .unwrap();
                sequence.push(best as u32);
            }
            assert_eq!(tokens, &sequence[prompt.len()..]);
        }
        let distinct: std::collections::BTreeSet<_> = generated.iter().collect();
        assert!(distinct.len() > 1, "every prompt got {:?}", generated[0]);
    }

    #[test]
    fn batching_and_padding_do_not_change_the_result() {
        let model = model();
        let run = |batch_size| {
            greedy_generate(
                &model,
                &prompts(),
                &settings(8, vec![], batch_size),
                &Device::Cpu,
                |_| {},
            )
            .unwrap()
        };
        let one_by_one: Vec<Vec<u32>> = prompts()
            .iter()
            .map(|p| {
                greedy_generate(
                    &model,
                    std::slice::from_ref(p),
                    &settings(8, vec![], 1),
                    &Device::Cpu,
                    |_| {},
                )
                .unwrap()
                .remove(0)
            })
            .collect();
        assert_eq!(run(64), one_by_one);
        assert_eq!(run(2), one_by_one);
        assert_eq!(run(64), run(64), "deterministic");
    }

    #[test]
    fn a_row_ends_at_its_first_stop_token_and_keeps_it() {
        let model = model();
        let free = greedy_generate(
            &model,
            &prompts(),
            &settings(8, vec![], 64),
            &Device::Cpu,
            |_| {},
        )
        .unwrap();
        let stop = free[0][2];
        let stopped = greedy_generate(
            &model,
            &prompts(),
            &settings(8, vec![stop], 64),
            &Device::Cpu,
            |_| {},
        )
        .unwrap();
        for (free, stopped) in free.iter().zip(&stopped) {
            let end = free.iter().position(|&t| t == stop).map_or(8, |i| i + 1);
            assert_eq!(stopped, &free[..end]);
        }
        assert_eq!(
            stopped[0].len(),
            free[0].iter().position(|&t| t == stop).unwrap() + 1
        );
    }

    #[test]
    fn rows_stop_at_the_context_and_prompts_must_leave_room() {
        let model = model();
        let mut finished = 0;
        let generated = greedy_generate(
            &model,
            &prompts(),
            &settings(100, vec![], 2),
            &Device::Cpu,
            |n| finished += n,
        )
        .unwrap();
        assert_eq!(finished, prompts().len());
        for (prompt, tokens) in prompts().iter().zip(&generated) {
            assert_eq!(prompt.len() + tokens.len(), 24);
        }
        let error = greedy_generate(
            &model,
            &[vec![0; 24]],
            &settings(1, vec![], 1),
            &Device::Cpu,
            |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("prompt 0 has 24 tokens"), "{error}");
    }
}
