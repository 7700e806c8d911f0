//! Biography entries rendered into shared buffers: one text buffer per chunk of people rather
//! than a string and two span vectors per entry. At 500,000 entries the allocations, frees and
//! page faults of per-entry values were about a quarter of the generation's time.

use factlab_artifacts::{BioEntryRef, Person};
use factlab_rng::Rng;
use indicatif::ProgressBar;
use rayon::prelude::*;

use super::data::{AttributeTemplates, Reference};
use super::{BiosOptions, Variant, ENTRIES_STREAM};

/// People rendered by one task: enough to amortise a task, few enough to balance two cores.
const PEOPLE_PER_CHUNK: usize = 2048;
/// Bytes reserved per entry: entries run about 290 bytes (six sentences), a few more with
/// +fullname.
const ENTRY_BYTES: usize = 320;

/// Every entry of every person, in people order and, within a person, entry order.
pub(super) struct Rendered<'a> {
    chunks: Vec<Chunk>,
    /// Index of each chunk's first entry.
    chunk_starts: Vec<usize>,
    /// The main group's variant name, then the celebrities'.
    variant_names: &'a [String; 2],
}

#[derive(Default)]
struct Chunk {
    text: String,
    /// End of each entry's text in `text`; it starts where the previous one ends.
    ends: Vec<usize>,
    /// Value spans relative to the entry's text, in `ATTRIBUTES` order.
    value_starts: Vec<[u32; 6]>,
    value_ends: Vec<[u32; 6]>,
    person_ids: Vec<u32>,
    entries: Vec<u32>,
    celebrity: Vec<bool>,
}

impl<'a> Rendered<'a> {
    pub(super) fn render(
        people: &[Person],
        options: &BiosOptions,
        templates: &[AttributeTemplates],
        variant_names: &'a [String; 2],
        progress: &ProgressBar,
    ) -> Self {
        let chunks: Vec<Chunk> = people
            .par_chunks(PEOPLE_PER_CHUNK)
            .map(|group| {
                let mut chunk = Chunk::default();
                chunk
                    .text
                    .reserve(group.len() * ENTRY_BYTES * options.variant.entries as usize);
                for person in group {
                    let celebrity = person.group == "celebrity";
                    let variant = if celebrity {
                        options.celebrity_variant
                    } else {
                        options.variant
                    };
                    chunk.push_person(person, variant, celebrity, options, templates);
                }
                progress.inc(group.len() as u64);
                chunk
            })
            .collect();
        let mut chunk_starts = Vec::with_capacity(chunks.len());
        let mut start = 0;
        for chunk in &chunks {
            chunk_starts.push(start);
            start += chunk.ends.len();
        }
        Rendered {
            chunks,
            chunk_starts,
            variant_names,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.ends.len()).sum()
    }

    pub(super) fn text_bytes(&self) -> usize {
        self.chunks.iter().map(|c| c.text.len()).sum()
    }

    /// Entry `index` in people order.
    pub(super) fn get(&self, index: usize) -> BioEntryRef<'_> {
        let chunk_index = self.chunk_starts.partition_point(|&start| start <= index) - 1;
        let chunk = &self.chunks[chunk_index];
        let local = index - self.chunk_starts[chunk_index];
        let start = if local == 0 { 0 } else { chunk.ends[local - 1] };
        BioEntryRef {
            person_id: chunk.person_ids[local],
            variant: &self.variant_names[usize::from(chunk.celebrity[local])],
            entry: chunk.entries[local],
            text: &chunk.text[start..chunk.ends[local]],
            value_starts: &chunk.value_starts[local],
            value_ends: &chunk.value_ends[local],
        }
    }
}

impl Chunk {
    /// The person's entries under `variant`: each states all six attributes once, one sentence
    /// each, the full name opening the first sentence.
    fn push_person(
        &mut self,
        person: &Person,
        variant: Variant,
        celebrity: bool,
        options: &BiosOptions,
        templates: &[AttributeTemplates],
    ) {
        let mut rng = Rng::derive(options.seed, &[ENTRIES_STREAM, person.person_id as u64]);
        let draw = |rng: &mut Rng| -> [usize; 6] {
            std::array::from_fn(|attribute| rng.below(templates[attribute].sentences.len()))
        };
        let shared_draw = draw(&mut rng);
        let (subject, possessive, plural) = match person.pronoun.as_str() {
            "he" => ("He", "his", false),
            "she" => ("She", "her", false),
            _ => ("They", "their", true),
        };
        let name_possessive = format!("{}'s", person.name);
        let named = Reference {
            subject: &person.name,
            possessive: if variant.fullname {
                &name_possessive
            } else {
                possessive
            },
            plural: false,
        };
        let pronoun = Reference {
            subject,
            possessive,
            plural,
        };
        let values = person.values();
        for entry in 0..variant.entries {
            let chosen = if variant.resample {
                draw(&mut rng)
            } else {
                shared_draw
            };
            let mut order = options.order.0;
            if variant.permute {
                rng.shuffle(&mut order);
            }
            let start = self.text.len();
            let mut starts = [0u32; 6];
            let mut ends = [0u32; 6];
            for (position, &attribute) in order.iter().enumerate() {
                if position > 0 {
                    self.text.push(' ');
                }
                let who = if position == 0 || variant.fullname {
                    &named
                } else {
                    &pronoun
                };
                let sentence = &templates[attribute].sentences[chosen[attribute]];
                let span = sentence.render_into(&mut self.text, who, values[attribute]);
                starts[attribute] = (span.start - start) as u32;
                ends[attribute] = (span.end - start) as u32;
            }
            self.ends.push(self.text.len());
            self.value_starts.push(starts);
            self.value_ends.push(ends);
            self.person_ids.push(person.person_id);
            self.entries.push(entry);
            self.celebrity.push(celebrity);
        }
    }
}
