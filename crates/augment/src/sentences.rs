//! Sentences of documents and model replies, and the sentence splitting of Lampinen et al.
//! (2025) §3: one training example per sentence, alone or after its document's preceding ones.

use std::sync::OnceLock;

use regex::Regex;

/// How output documents become training rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    /// One row per document.
    None,
    /// One row per sentence.
    Independent,
    /// One row per sentence, after all preceding sentences of its document.
    Cumulative,
}

/// The sentences of `text`: a sentence ends at `.`, `!` or `?` (and any closing quotes or
/// brackets) followed by white space, or at a line break. Nonsense-word sentences may start in
/// lower case, so the next letter's case is not used.
pub fn sentences(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for line in text.lines() {
        let mut start = 0;
        let mut chars = line.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if !matches!(c, '.' | '!' | '?') {
                continue;
            }
            let mut end = i + c.len_utf8();
            while let Some(&(j, next)) = chars.peek() {
                if matches!(next, '"' | '\'' | ')' | ']' | '”' | '’') {
                    end = j + next.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            if chars.peek().is_none_or(|&(_, next)| next.is_whitespace()) {
                push_trimmed(&mut found, &line[start..end]);
                start = end;
            }
        }
        push_trimmed(&mut found, &line[start..]);
    }
    found
}

fn push_trimmed<'a>(found: &mut Vec<&'a str>, piece: &'a str) {
    let piece = piece.trim();
    if !piece.is_empty() {
        found.push(piece);
    }
}

/// The training texts of one document under `split`.
pub fn split_document(text: &str, split: Split) -> Vec<String> {
    match split {
        Split::None => vec![text.to_string()],
        Split::Independent => sentences(text).into_iter().map(str::to_string).collect(),
        Split::Cumulative => {
            let all = sentences(text);
            (1..=all.len()).map(|n| all[..n].join(" ")).collect()
        }
    }
}

/// A model's reply as one paragraph: list markers stripped, lead-in lines that end in a colon
/// ("Here are the statements:") and blank lines dropped, lines joined by spaces.
pub fn clean_reply(reply: &str) -> String {
    static MARKER: OnceLock<Regex> = OnceLock::new();
    let marker = MARKER.get_or_init(|| {
        Regex::new(r"^(?:[-*•]|\d{1,3}[.)])\s+").expect("list-marker pattern compiles")
    });
    let lines: Vec<&str> = reply
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.ends_with(':'))
        .map(|line| {
            marker
                .find(line)
                .map_or(line, |m| line[m.end()..].trim_start())
        })
        .filter(|line| !line.is_empty())
        .collect();
    lines.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_terminal_punctuation_and_line_breaks() {
        let text = "femp are taller than glon. Is it \"true?\" yes!\nglon are shorter than femp";
        assert_eq!(
            sentences(text),
            [
                "femp are taller than glon.",
                "Is it \"true?\"",
                "yes!",
                "glon are shorter than femp"
            ]
        );
        assert_eq!(sentences("Version 1.5 is out."), ["Version 1.5 is out."]);
    }

    #[test]
    fn cumulative_keeps_preceding_sentences() {
        let text = "A b. C d. E f.";
        assert_eq!(split_document(text, Split::None), [text]);
        assert_eq!(
            split_document(text, Split::Independent),
            ["A b.", "C d.", "E f."]
        );
        assert_eq!(
            split_document(text, Split::Cumulative),
            ["A b.", "A b. C d.", "A b. C d. E f."]
        );
    }

    #[test]
    fn cleans_lists_and_lead_ins() {
        let reply = "Here are the statements:\n\n1. glon are shorter than femp.\n- femp tower over glon.\n* 2) odd.";
        assert_eq!(
            clean_reply(reply),
            "glon are shorter than femp. femp tower over glon. 2) odd."
        );
    }
}
