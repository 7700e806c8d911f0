//! Fixtures shared by the model tests: a two-layer model with 16 hidden units and 11 tokens, two
//! rows of its token ids, and a tensor's values.

use candle_core::Tensor;
use factlab_model::ModelConfig;

pub fn config(tied: bool) -> ModelConfig {
    ModelConfig {
        hidden_size: 16,
        intermediate_size: 24,
        num_layers: 2,
        num_heads: 2,
        vocab_size: Some(11),
        max_position_embeddings: 16,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        tie_word_embeddings: tied,
        initializer_range: 0.02,
        bos_token_id: None,
        eos_token_id: Some(0),
    }
}

/// Two rows of 8 token ids, each starting with the end-of-text id 0.
pub fn rows() -> Vec<Vec<u32>> {
    vec![vec![0, 3, 4, 5, 6, 7, 8, 9], vec![0, 9, 8, 7, 2, 1, 10, 3]]
}

pub fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}
