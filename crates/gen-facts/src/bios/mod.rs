//! `gen-facts bios`: synthetic biographies in the bioS style of Physics of LMs 3.1 — people with
//! six attributes drawn uniformly from the pools in `data/bios/`, their biography entries under
//! one knowledge augmentation, and six question–answer pairs each.

mod data;
mod variant;

use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{ensure, Context, Result};
use factlab_artifacts::outputs::{seal_together, write_rows_unsealed, UnsealedFile};
use factlab_artifacts::{BioEntry, Person, QaPair, ATTRIBUTES};
use factlab_rng::Rng;
use indicatif::ProgressBar;
use rayon::prelude::*;

pub use data::BioData;
use data::{AttributeTemplates, Reference};
pub use variant::Variant;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const YEARS: std::ops::RangeInclusive<usize> = 1900..=2099;
/// Days 1–28, so every month has every day.
const DAYS: usize = 28;

/// Keys of the random streams, so that each decision has its own and adding one never shifts
/// another.
const NAMES_STREAM: u64 = 1;
const ATTRIBUTES_STREAM: u64 = 2;
const ENTRIES_STREAM: u64 = 3;
const SHUFFLE_STREAM: u64 = 4;

/// Bytes reserved per biography entry: entries run about 290 bytes (six sentences), a few more
/// with +fullname.
const ENTRY_CAPACITY: usize = 384;

/// Which pronoun refers to a person after the first sentence (the paper's rule is uncertain).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PronounRule {
    /// he, she or they at random per person (Part 3.1's text).
    HeSheThey,
    /// he or she at random per person (Part 3.3).
    HeShe,
    /// he for even ids, she for odd ones (the authors' released generator).
    Parity,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateStyle {
    /// "March 7, 1952" (the paper's).
    MonthDayYear,
    /// "7 of March, 1952" (the released generator's alternative).
    DayOfMonth,
}

/// The order the six attribute sentences come in, unpermuted: a list of all six attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentenceOrder(pub [usize; 6]);

impl Default for SentenceOrder {
    /// The paper's: birth date, birth city, university, major, employer, company city.
    fn default() -> Self {
        SentenceOrder([0, 1, 2, 3, 4, 5])
    }
}

impl FromStr for SentenceOrder {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        let names: Vec<&str> = text.split(',').map(str::trim).collect();
        let mut order = [0; 6];
        let mut seen = HashSet::new();
        ensure!(
            names.len() == ATTRIBUTES.len(),
            "order `{text}` names {} attributes; expected all six, each once: {}",
            names.len(),
            ATTRIBUTES.join(",")
        );
        for (slot, name) in order.iter_mut().zip(&names) {
            *slot = ATTRIBUTES.iter().position(|a| a == name).with_context(|| {
                format!("order: unknown attribute `{name}`; expected one of {ATTRIBUTES:?}")
            })?;
            ensure!(seen.insert(*slot), "order: `{name}` is listed twice");
        }
        Ok(SentenceOrder(order))
    }
}

pub struct BiosOptions {
    /// People in the main group (P_train + P_test, or the minority with celebrities).
    pub people: u32,
    pub variant: Variant,
    /// Extra people with their own variant, whose QA is trained on (Physics 3.1 Fig. 8); 0 for none.
    pub celebrities: u32,
    pub celebrity_variant: Variant,
    /// Share of the main group in P_train, the rest in P_test (without celebrities).
    pub train_fraction: f64,
    /// Share of P_train held out as the validation split (without celebrities): its QA is not
    /// finetuned on, so hyperparameters are chosen on it and never on P_test.
    pub validation_fraction: f64,
    pub pronouns: PronounRule,
    pub order: SentenceOrder,
    pub date_style: DateStyle,
    pub seed: u64,
    /// Folder laid out like `data/bios/`, replacing the bundled files.
    pub data: Option<PathBuf>,
    pub output: PathBuf,
    pub people_output: Option<PathBuf>,
    pub qa_output: Option<PathBuf>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct BiosSummary {
    pub people: u64,
    pub entries: u64,
    pub qa_pairs: u64,
    pub train_people: u64,
    pub validation_people: u64,
    pub bytes: u64,
}

pub fn generate_bios(options: &BiosOptions, progress: &ProgressBar) -> Result<BiosSummary> {
    ensure!(
        options.people > 0,
        "-n is 0; expected at least one person (the paper: 100,000)"
    );
    ensure!(
        (0.0..=1.0).contains(&options.train_fraction),
        "--train-fraction is {}; expected a share between 0 and 1",
        options.train_fraction
    );
    ensure!(
        (0.0..=1.0).contains(&options.validation_fraction),
        "--validation-fraction is {}; expected a share of P_train between 0 and 1",
        options.validation_fraction
    );
    let data = match &options.data {
        Some(dir) => BioData::load(dir)?,
        None => BioData::bundled()?,
    };
    let total = options.people as u64 + options.celebrities as u64;
    let pools = &data.pools;
    let names_possible = pools.first_names.len() as u64
        * pools.middle_names.len() as u64
        * pools.last_names.len() as u64;
    ensure!(
        total <= names_possible / 2,
        "{total} people need unique full names, but the name pools make only {names_possible}; \
         at most half of them can be drawn without long rejection runs"
    );
    let people = draw_people(options, &data, total as u32);
    // Each person's entries come from their own random stream, so rendering in parallel gives
    // the same entries whatever the thread count.
    let mut entries: Vec<BioEntry> = people
        .par_iter()
        .flat_map_iter(|person| {
            let variant = if person.group == "celebrity" {
                options.celebrity_variant
            } else {
                options.variant
            };
            progress.inc(1);
            biography_entries(person, variant, options, &data.templates)
        })
        .collect();
    // Packed in file order, entries of one person must not sit together in a window.
    Rng::derive(options.seed, &[SHUFFLE_STREAM]).shuffle(&mut entries);
    let qa: Vec<QaPair> = people
        .par_iter()
        .flat_map_iter(|person| questions(person, &data.templates))
        .collect();
    let summary = BiosSummary {
        people: people.len() as u64,
        entries: entries.len() as u64,
        qa_pairs: qa.len() as u64,
        train_people: people.iter().filter(|p| p.split == "train").count() as u64,
        validation_people: people.iter().filter(|p| p.split == "validation").count() as u64,
        bytes: entries.iter().map(|e| e.text.len() as u64).sum(),
    };
    // The three files are compressed side by side, then sealed as one set: each is renamed into
    // place only when all are complete, and a kill between two renames leaves files whose set
    // ids differ, which the readers that take two of them refuse.
    let files = std::thread::scope(|scope| -> Result<Vec<UnsealedFile>> {
        let people_written = options
            .people_output
            .as_ref()
            .map(|path| scope.spawn(|| write_rows_unsealed(path, &people)));
        let qa_written = options
            .qa_output
            .as_ref()
            .map(|path| scope.spawn(|| write_rows_unsealed(path, &qa)));
        let mut files = vec![write_rows_unsealed(&options.output, &entries)?];
        for written in [people_written, qa_written].into_iter().flatten() {
            files.push(written.join().expect("a Parquet writer does not panic")?);
        }
        Ok(files)
    })?;
    seal_together(files)?;
    Ok(summary)
}

fn draw_people(options: &BiosOptions, data: &BioData, total: u32) -> Vec<Person> {
    let pools = &data.pools;
    let mut names = Rng::derive(options.seed, &[NAMES_STREAM]);
    let mut taken = HashSet::new();
    let p_train = (options.people as f64 * options.train_fraction).round() as u32;
    // Validation people are the last ids of P_train, so P_test is the same people whatever the
    // validation share (ids are drawn independently of their attributes, so a range is a
    // random sample).
    let train_people = p_train - (p_train as f64 * options.validation_fraction).round() as u32;
    (0..total)
        .map(|person_id| {
            let (first, middle, last) = loop {
                let draw = (
                    names.below(pools.first_names.len()),
                    names.below(pools.middle_names.len()),
                    names.below(pools.last_names.len()),
                );
                if taken.insert(draw) {
                    break draw;
                }
            };
            let mut rng = Rng::derive(options.seed, &[ATTRIBUTES_STREAM, person_id as u64]);
            let year = YEARS.start() + rng.below(YEARS.count());
            let month = MONTHS[rng.below(MONTHS.len())];
            let day = 1 + rng.below(DAYS);
            let birth_date = match options.date_style {
                DateStyle::MonthDayYear => format!("{month} {day}, {year}"),
                DateStyle::DayOfMonth => format!("{day} of {month}, {year}"),
            };
            let company = rng.choose(&pools.companies);
            let pronoun = match options.pronouns {
                PronounRule::HeSheThey => ["he", "she", "they"][rng.below(3)],
                PronounRule::HeShe => ["he", "she"][rng.below(2)],
                PronounRule::Parity => ["he", "she"][person_id as usize % 2],
            };
            let celebrity = person_id >= options.people;
            let (split, group) = match (celebrity, options.celebrities > 0) {
                (true, _) => ("train", "celebrity"),
                (false, true) => ("test", "minority"),
                (false, false) if person_id < train_people => ("train", "all"),
                (false, false) if person_id < p_train => ("validation", "all"),
                (false, false) => ("test", "all"),
            };
            let (first, middle, last) = (
                &pools.first_names[first],
                &pools.middle_names[middle],
                &pools.last_names[last],
            );
            Person {
                person_id,
                name: format!("{first} {middle} {last}"),
                first_name: first.clone(),
                middle_name: middle.clone(),
                last_name: last.clone(),
                birth_date,
                birth_city: rng.choose(&pools.birth_cities).clone(),
                university: rng.choose(&pools.universities).clone(),
                major: rng.choose(&pools.majors).clone(),
                employer: company.name.clone(),
                company_city: company.city.clone(),
                pronoun: pronoun.to_string(),
                split: split.to_string(),
                group: group.to_string(),
            }
        })
        .collect()
}

/// The person's entries under `variant`: each states all six attributes once, one sentence each,
/// the full name opening the first sentence.
fn biography_entries(
    person: &Person,
    variant: Variant,
    options: &BiosOptions,
    templates: &[AttributeTemplates],
) -> Vec<BioEntry> {
    let mut rng = Rng::derive(options.seed, &[ENTRIES_STREAM, person.person_id as u64]);
    let draw = |rng: &mut Rng| -> Vec<usize> {
        templates
            .iter()
            .map(|t| rng.below(t.sentences.len()))
            .collect()
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
    (0..variant.entries)
        .map(|entry| {
            let chosen = if variant.resample {
                draw(&mut rng)
            } else {
                shared_draw.clone()
            };
            let mut order = options.order.0;
            if variant.permute {
                rng.shuffle(&mut order);
            }
            // Room for a typical entry up front: growing 500,000 strings step by step was a
            // sixth of the generation's time.
            let mut text = String::with_capacity(ENTRY_CAPACITY);
            let mut starts = vec![0u32; ATTRIBUTES.len()];
            let mut ends = vec![0u32; ATTRIBUTES.len()];
            for (position, &attribute) in order.iter().enumerate() {
                if position > 0 {
                    text.push(' ');
                }
                let who = if position == 0 || variant.fullname {
                    &named
                } else {
                    &pronoun
                };
                let sentence = &templates[attribute].sentences[chosen[attribute]];
                let span = sentence.render_into(&mut text, who, values[attribute]);
                starts[attribute] = span.start as u32;
                ends[attribute] = span.end as u32;
            }
            BioEntry {
                person_id: person.person_id,
                variant: variant.to_string(),
                entry,
                text,
                value_starts: starts,
                value_ends: ends,
            }
        })
        .collect()
}

fn questions<'a>(
    person: &'a Person,
    templates: &'a [AttributeTemplates],
) -> impl Iterator<Item = QaPair> + 'a {
    ATTRIBUTES
        .iter()
        .zip(templates)
        .zip(person.values())
        .map(|((attribute, template), value)| QaPair {
            person_id: person.person_id,
            attribute: attribute.to_string(),
            question: template.question.replace("{name}", &person.name),
            answer: value.to_string(),
            split: person.split.clone(),
        })
}
