use crate::flat::flat_artifact;

flat_artifact! {
    /// One exposure of one knowledge item: where in the continuation shards its text was prepended.
    #[derive(Eq)]
    Injection = "injections" {
        knowledge_id: u32,
        /// The schedule group's name, e.g. `paraphrase`, `duplicate`, `once`.
        scenario: String,
        /// 0 for the first exposure of this item, 1 for the second, ...
        exposure: u32,
        step: u32,
        row: u32,
        /// 0 = original text, k = paraphrase k.
        variant: u32,
        /// Position in the row's tokens where the text (then its end-of-text token) starts.
        offset: u32,
        /// Tokens of the text written into the row; under `text_tokens` when cut at the row's end.
        length: u32,
        /// Tokens of the whole text plus its end-of-text token.
        text_tokens: u32,
    }
}
