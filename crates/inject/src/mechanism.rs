//! The paper's injection mechanism (Chang et al. 2024, §3): text i (+ end-of-text) is prepended
//! to row i of the batch and the row is cut back to `seq_len`, so the batch keeps its shape and
//! the corpus tokens pushed off the row's end are dropped. With more texts than rows, text i goes
//! to row i mod rows, after the texts already placed there.

use anyhow::{bail, Result};

/// Where one text landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub row: usize,
    pub offset: usize,
    /// Tokens of the text kept; fewer than its length only when cut at the row's end.
    pub length: usize,
}

/// Where texts of these lengths go in a batch of `rows` rows, or why one does not fit. Cheap, so
/// a whole schedule is checked before any shard is written.
pub fn layout(lengths: &[usize], rows: usize, seq_len: usize) -> Result<Vec<Placement>> {
    let mut filled = vec![0usize; rows];
    lengths
        .iter()
        .enumerate()
        .map(|(i, &length)| {
            let row = i % rows;
            let offset = filled[row];
            if offset >= seq_len {
                let total: usize = lengths.iter().sum();
                bail!(
                    "text {i} of {} does not fit: row {row} is already filled by {offset} tokens of earlier texts; the step's texts have {total} tokens and its batch holds {rows} × {seq_len}; use a larger --batch-size or --seq-len, or smaller scenario groups",
                    lengths.len()
                );
            }
            filled[row] += length;
            Ok(Placement {
                row,
                offset,
                length: length.min(seq_len - offset),
            })
        })
        .collect()
}

/// Prepends `texts` to `rows` (each `seq_len` long) in place. Returns one placement per text, in
/// input order, and the number of corpus tokens dropped.
pub fn prepend(
    rows: &mut [Vec<u32>],
    texts: &[&[u32]],
    seq_len: usize,
) -> Result<(Vec<Placement>, u64)> {
    let lengths: Vec<usize> = texts.iter().map(|t| t.len()).collect();
    let placements = layout(&lengths, rows.len(), seq_len)?;
    let mut prefixes: Vec<Vec<u32>> = vec![Vec::new(); rows.len()];
    for (text, placed) in texts.iter().zip(&placements) {
        prefixes[placed.row].extend_from_slice(text);
    }
    let mut dropped = 0;
    for (row, mut prefix) in rows.iter_mut().zip(prefixes) {
        if prefix.is_empty() {
            continue;
        }
        let kept = seq_len.saturating_sub(prefix.len());
        dropped += (seq_len - kept) as u64;
        prefix.truncate(seq_len);
        prefix.extend_from_slice(&row[..kept]);
        *row = prefix;
    }
    Ok((placements, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_prepended_and_rows_cut_back() {
        let mut rows = vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]];
        let (placed, dropped) = prepend(&mut rows, &[&[9, 0]], 4).unwrap();
        assert_eq!(rows, vec![vec![9, 0, 1, 2], vec![5, 6, 7, 8]]);
        assert_eq!(
            placed,
            vec![Placement {
                row: 0,
                offset: 0,
                length: 2
            }]
        );
        assert_eq!(dropped, 2);
    }

    #[test]
    fn extra_texts_share_rows_and_long_ones_are_cut() {
        let mut rows = vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]];
        let (placed, dropped) =
            prepend(&mut rows, &[&[10], &[20, 21, 22, 23, 24], &[30]], 4).unwrap();
        assert_eq!(rows, vec![vec![10, 30, 1, 2], vec![20, 21, 22, 23]]);
        let spots: Vec<_> = placed.iter().map(|p| (p.row, p.offset, p.length)).collect();
        assert_eq!(spots, vec![(0, 0, 1), (1, 0, 4), (0, 1, 1)]);
        assert_eq!(dropped, 2 + 4);
    }

    #[test]
    fn a_text_pushed_off_its_row_is_an_error() {
        let mut rows = vec![vec![1, 2]];
        let error = prepend(&mut rows, &[&[7, 7, 7], &[8]], 2).unwrap_err();
        assert!(error.to_string().contains("does not fit"), "{error}");
    }
}
