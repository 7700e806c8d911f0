//! Packing the corpus token stream (documents joined by end-of-text) into rows of `seq_len`.

use std::collections::VecDeque;

/// A FIFO of corpus tokens that hands out whole rows and remembers where documents end, so that
/// a later run can start at the first document this one did not touch.
pub struct Packer {
    seq_len: usize,
    buffer: Vec<u32>,
    /// Index in `buffer` of the first token not yet handed out.
    start: usize,
    /// Stream positions (tokens since the first document) where buffered documents end.
    document_ends: VecDeque<u64>,
    consumed: u64,
    documents_finished: u64,
    /// Stream position where the last finished document ends (where the next one starts).
    finished_end: u64,
    pushed_documents: u64,
    pushed_tokens: u64,
}

impl Packer {
    pub fn new(seq_len: usize) -> Self {
        Packer {
            seq_len,
            buffer: Vec::new(),
            start: 0,
            document_ends: VecDeque::new(),
            consumed: 0,
            documents_finished: 0,
            finished_end: 0,
            pushed_documents: 0,
            pushed_tokens: 0,
        }
    }

    /// Appends documents, each already ending with its end-of-text token.
    pub fn push(&mut self, documents: Vec<Vec<u32>>) {
        // Dropping the handed-out prefix only when it is at least half the buffer keeps the
        // copying linear in the stream length.
        if self.start > 0 && self.start * 2 >= self.buffer.len() {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        for document in documents {
            self.pushed_tokens += document.len() as u64;
            self.pushed_documents += 1;
            self.document_ends.push_back(self.pushed_tokens);
            self.buffer.extend_from_slice(&document);
        }
    }

    pub fn rows_available(&self) -> usize {
        (self.buffer.len() - self.start) / self.seq_len
    }

    /// The next `seq_len` tokens of the stream. Panics if fewer are buffered.
    pub fn take_row(&mut self) -> Vec<u32> {
        let row = self.buffer[self.start..self.start + self.seq_len].to_vec();
        self.start += self.seq_len;
        self.consumed += self.seq_len as u64;
        while let Some(&end) = self.document_ends.front() {
            if end > self.consumed {
                break;
            }
            self.document_ends.pop_front();
            self.finished_end = end;
            self.documents_finished += 1;
        }
        row
    }

    /// Documents of which at least one token went into a row.
    pub fn documents_started(&self) -> u64 {
        self.documents_finished + u64::from(self.consumed > self.finished_end)
    }

    pub fn documents_tokenized(&self) -> u64 {
        self.pushed_documents
    }

    pub fn tokens_tokenized(&self) -> u64 {
        self.pushed_tokens
    }
}
