//! The background corpus, read in Parquet batches so that a corpus larger than memory streams;
//! or, with a shuffle seed, held in memory and handed out in a new seeded order on every pass.

use std::path::Path;

use anyhow::Result;
use factlab_artifacts::{open_batches, Artifact, BatchReader, CorpusDocument};
use factlab_rng::Rng;

/// Documents handed out per call in shuffled mode: large enough to keep the tokenizer's threads
/// busy.
const SHUFFLED_CHUNK: usize = 4096;

/// Documents of a corpus file in order, after skipping the first `skip` of them.
pub struct Corpus {
    reader: BatchReader,
    /// Documents read from the file but not yet handed out (the tokenizer's training sample).
    pending: Vec<String>,
    to_skip: u64,
    shuffled: Option<Passes>,
}

/// The whole corpus in memory, handed out pass after pass, each in its own seeded order: many
/// passes over a small corpus (the biographies of Physics of LMs 3.1 are seen hundreds of
/// times) without one pass's order repeating, and without a person's entries meeting in a
/// window because the file listed them together.
struct Passes {
    documents: Vec<String>,
    seed: u64,
    order: Vec<usize>,
    next: usize,
    pass: u64,
}

impl Passes {
    fn new(documents: Vec<String>, seed: u64) -> Self {
        let mut passes = Passes {
            order: (0..documents.len()).collect(),
            documents,
            seed,
            next: 0,
            pass: 0,
        };
        passes.shuffle();
        passes
    }

    fn shuffle(&mut self) {
        self.order.sort_unstable();
        Rng::derive(self.seed, &[self.pass]).shuffle(&mut self.order);
    }

    fn next_chunk(&mut self) -> Option<Vec<String>> {
        if self.documents.is_empty() {
            return None;
        }
        if self.next == self.order.len() {
            self.pass += 1;
            self.next = 0;
            self.shuffle();
        }
        let end = (self.next + SHUFFLED_CHUNK).min(self.order.len());
        let chunk = self.order[self.next..end]
            .iter()
            .map(|&i| self.documents[i].clone())
            .collect();
        self.next = end;
        Some(chunk)
    }
}

impl Corpus {
    /// Opens `path` (`-` for stdin), a Parquet file with a `text` column. With `shuffle`, the
    /// corpus is read whole and never runs out: each pass comes in a new order drawn from it.
    pub fn open(path: &Path, skip: u64, shuffle: Option<u64>) -> Result<Self> {
        let mut corpus = Corpus {
            reader: open_batches(path, &CorpusDocument::schema())?,
            pending: Vec::new(),
            to_skip: skip,
            shuffled: None,
        };
        if let Some(seed) = shuffle {
            let mut documents = Vec::new();
            while let Some(texts) = corpus.read_batch()? {
                documents.extend(texts);
            }
            corpus.shuffled = Some(Passes::new(documents, seed));
        }
        Ok(corpus)
    }

    fn read_batch(&mut self) -> Result<Option<Vec<String>>> {
        loop {
            let Some(batch) = self.reader.next() else {
                return Ok(None);
            };
            let documents = CorpusDocument::from_batch(&batch?, self.reader.origin())?;
            let skipped = self.to_skip.min(documents.len() as u64);
            self.to_skip -= skipped;
            let texts: Vec<String> = documents
                .into_iter()
                .skip(skipped as usize)
                .map(|d| d.text)
                .collect();
            if !texts.is_empty() {
                return Ok(Some(texts));
            }
        }
    }

    /// The first `n` documents (fewer if the corpus is shorter), in file order; they are still
    /// handed out by [`Corpus::next_chunk`] afterwards, so one pass over stdin serves both uses.
    pub fn peek(&mut self, n: usize) -> Result<&[String]> {
        if self.shuffled.is_none() {
            while self.pending.len() < n {
                match self.read_batch()? {
                    Some(texts) => self.pending.extend(texts),
                    None => break,
                }
            }
        }
        let documents = match &self.shuffled {
            Some(passes) => &passes.documents,
            None => &self.pending,
        };
        Ok(&documents[..n.min(documents.len())])
    }

    /// The next documents, or `None` at the end of the corpus (never, when shuffled).
    pub fn next_chunk(&mut self) -> Result<Option<Vec<String>>> {
        if let Some(passes) = &mut self.shuffled {
            return Ok(passes.next_chunk());
        }
        if self.pending.is_empty() {
            self.read_batch()
        } else {
            Ok(Some(std::mem::take(&mut self.pending)))
        }
    }

    /// Passes begun over a shuffled corpus (0 when streamed in file order).
    pub fn passes(&self) -> u64 {
        self.shuffled.as_ref().map_or(0, |p| p.pass + 1)
    }

    pub fn origin(&self) -> &str {
        self.reader.origin()
    }
}
