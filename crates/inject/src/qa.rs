//! Question–answer rows for QA finetuning and mixed training (Physics of LMs 3.1 §4): each row
//! holds whole QA examples, each `question + " Answer:"` then `" " + answer` then end-of-text,
//! with a loss mask that flags the answer's tokens and its end-of-text only. A row opens with
//! end-of-text, so every question starts as a document does, and ends in end-of-text padding.

use std::path::Path;

use anyhow::{bail, Result};
use factlab_artifacts::{read_rows, QaPair};
use factlab_rng::Rng;
use rayon::prelude::*;

use crate::tokenizer::TextTokenizer;

/// Which people's pairs a run trains on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QaSplit {
    Train,
    Test,
    All,
}

impl QaSplit {
    fn takes(self, pair: &QaPair) -> bool {
        match self {
            QaSplit::Train => pair.split == "train",
            QaSplit::Test => pair.split == "test",
            QaSplit::All => true,
        }
    }
}

struct Example {
    tokens: Vec<u32>,
    /// Tokens of the question and the answer cue, which carry no loss.
    prompt: usize,
}

/// The chosen pairs, tokenized once, handed out in a new seeded order on every pass.
pub struct QaRows {
    examples: Vec<Example>,
    order: Vec<usize>,
    next: usize,
    pass: u64,
    seed: u64,
    seq_len: usize,
    end_of_text: u32,
    rows: u64,
}

impl QaRows {
    pub fn load(
        path: &Path,
        split: QaSplit,
        tokenizer: &TextTokenizer,
        seq_len: usize,
        seed: u64,
    ) -> Result<Self> {
        let pairs: Vec<QaPair> = read_rows::<QaPair>(path)?
            .into_iter()
            .filter(|p| split.takes(p))
            .collect();
        if pairs.is_empty() {
            bail!(
                "{}: no question–answer pair of split {split:?}; the file's `split` column holds `train` or `test`",
                path.display()
            );
        }
        let end_of_text = tokenizer.end_of_text();
        let examples = pairs
            .par_iter()
            .map(|pair| {
                let mut tokens = tokenizer.encode(&pair.prompt())?;
                let prompt = tokens.len();
                tokens.extend(tokenizer.encode(&pair.completion())?);
                tokens.push(end_of_text);
                if tokens.len() + 1 > seq_len {
                    bail!(
                        "{}: the pair about person {} ({}) has {} tokens; a row of --seq-len {seq_len} holds at most {}",
                        path.display(),
                        pair.person_id,
                        pair.attribute,
                        tokens.len(),
                        seq_len - 1
                    );
                }
                Ok(Example { tokens, prompt })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut rows = QaRows {
            order: (0..examples.len()).collect(),
            examples,
            next: 0,
            pass: 0,
            seed,
            seq_len,
            end_of_text,
            rows: 0,
        };
        rows.shuffle();
        Ok(rows)
    }

    fn shuffle(&mut self) {
        self.order.sort_unstable();
        Rng::derive(self.seed, &[self.pass]).shuffle(&mut self.order);
    }

    fn peek(&mut self) -> &Example {
        if self.next == self.order.len() {
            self.pass += 1;
            self.next = 0;
            self.shuffle();
        }
        &self.examples[self.order[self.next]]
    }

    /// The next row's tokens and loss mask: as many whole examples as fit, then padding.
    pub fn next_row(&mut self) -> (Vec<u32>, Vec<bool>) {
        let seq_len = self.seq_len;
        let mut tokens = vec![self.end_of_text];
        let mut mask = vec![false];
        while tokens.len() + self.peek().tokens.len() <= seq_len {
            let example = &self.examples[self.order[self.next]];
            tokens.extend_from_slice(&example.tokens);
            mask.extend((0..example.tokens.len()).map(|i| i >= example.prompt));
            self.next += 1;
        }
        tokens.resize(seq_len, self.end_of_text);
        mask.resize(seq_len, false);
        self.rows += 1;
        (tokens, mask)
    }

    pub fn pairs(&self) -> usize {
        self.examples.len()
    }

    /// Passes begun over the pairs.
    pub fn passes(&self) -> u64 {
        self.pass + 1
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }
}
