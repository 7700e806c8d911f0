//! The background corpus, read in Parquet batches so that a corpus larger than memory streams.

use std::path::Path;

use anyhow::Result;
use factlab_artifacts::{open_batches, Artifact, BatchReader, CorpusDocument};

/// Documents of a corpus file in order, after skipping the first `skip` of them.
pub struct Corpus {
    reader: BatchReader,
    /// Documents read from the file but not yet handed out (the tokenizer's training sample).
    pending: Vec<String>,
    to_skip: u64,
}

impl Corpus {
    /// Opens `path` (`-` for stdin), a Parquet file with a `text` column.
    pub fn open(path: &Path, skip: u64) -> Result<Self> {
        Ok(Corpus {
            reader: open_batches(path, &CorpusDocument::schema())?,
            pending: Vec::new(),
            to_skip: skip,
        })
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

    /// The first `n` documents (fewer if the corpus is shorter); they are still handed out by
    /// [`Corpus::next_chunk`] afterwards, so one pass over stdin serves both uses.
    pub fn peek(&mut self, n: usize) -> Result<&[String]> {
        while self.pending.len() < n {
            match self.read_batch()? {
                Some(texts) => self.pending.extend(texts),
                None => break,
            }
        }
        Ok(&self.pending[..n.min(self.pending.len())])
    }

    /// The next documents in order, or `None` at the end of the corpus.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<String>>> {
        if self.pending.is_empty() {
            self.read_batch()
        } else {
            Ok(Some(std::mem::take(&mut self.pending)))
        }
    }

    pub fn origin(&self) -> &str {
        self.reader.origin()
    }
}
