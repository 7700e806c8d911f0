//! `gen-facts bios`: every augmentation variant keeps the paper's invariants (each attribute once
//! per entry, the order rule, the pronoun rule, full names, the name opening a permuted entry),
//! the spans point at the values, the splits and QA pairs are right, and output is deterministic.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use factlab_artifacts::{read_rows, BioEntry, Person, QaPair, ATTRIBUTES};
use gen_facts::{
    generate_bios, BioData, BiosOptions, DateStyle, PronounRule, SentenceOrder, Variant,
};
use indicatif::ProgressBar;

struct Generated {
    people: Vec<Person>,
    entries: Vec<BioEntry>,
    qa: Vec<QaPair>,
}

fn options(dir: &Path, people: u32, variant: &str) -> BiosOptions {
    BiosOptions {
        people,
        variant: variant.parse().unwrap(),
        celebrities: 0,
        celebrity_variant: "multi5+permute".parse().unwrap(),
        train_fraction: 0.5,
        validation_fraction: 0.0,
        pronouns: PronounRule::HeSheThey,
        order: SentenceOrder::default(),
        date_style: DateStyle::MonthDayYear,
        seed: 7,
        data: None,
        output: dir.join("bios.parquet"),
        people_output: Some(dir.join("people.parquet")),
        qa_output: Some(dir.join("qa.parquet")),
    }
}

fn generate(options: &BiosOptions) -> Generated {
    generate_bios(options, &ProgressBar::hidden()).unwrap();
    Generated {
        people: read_rows(options.people_output.as_ref().unwrap()).unwrap(),
        entries: read_rows(&options.output).unwrap(),
        qa: read_rows(options.qa_output.as_ref().unwrap()).unwrap(),
    }
}

const PRONOUNS: [&str; 13] = [
    "he",
    "she",
    "they",
    "him",
    "her",
    "them",
    "his",
    "hers",
    "their",
    "theirs",
    "himself",
    "herself",
    "themselves",
];

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// The entry cut into its sentences, each with the attribute it states. Fails unless the six
/// value spans tile the text as six sentences `... value.` joined by single spaces.
fn sentences(entry: &BioEntry) -> Vec<(usize, &str)> {
    let mut by_start: Vec<usize> = (0..ATTRIBUTES.len()).collect();
    by_start.sort_by_key(|&a| entry.value_starts[a]);
    let mut sentences = Vec::new();
    let mut begin = 0;
    for (position, &attribute) in by_start.iter().enumerate() {
        let end = entry.value_ends[attribute] as usize;
        assert!(
            entry.value_starts[attribute] as usize > begin,
            "{}: value of {} starts its sentence",
            entry.text,
            ATTRIBUTES[attribute]
        );
        assert_eq!(&entry.text[end..end + 1], ".", "{}", entry.text);
        sentences.push((attribute, &entry.text[begin..end + 1]));
        begin = end + 1;
        if position + 1 < by_start.len() {
            assert_eq!(&entry.text[begin..begin + 1], " ", "{}", entry.text);
            begin += 1;
        }
    }
    assert_eq!(
        begin,
        entry.text.len(),
        "{}: text after the last value",
        entry.text
    );
    sentences
}

#[test]
fn every_variant_keeps_the_papers_invariants() {
    let dir = tempfile::tempdir().unwrap();
    for name in Variant::PAPER {
        let variant: Variant = name.parse().unwrap();
        let generated = generate(&options(dir.path(), 60, name));
        let people: HashMap<u32, &Person> =
            generated.people.iter().map(|p| (p.person_id, p)).collect();
        let mut per_person: HashMap<u32, Vec<&BioEntry>> = HashMap::new();
        for entry in &generated.entries {
            assert_eq!(entry.variant, name);
            per_person.entry(entry.person_id).or_default().push(entry);
        }
        assert_eq!(per_person.len(), 60, "{name}");
        for (id, entries) in &per_person {
            let person = people[id];
            assert_eq!(entries.len() as u32, variant.entries, "{name}");
            let pronoun = {
                let mut p = person.pronoun.clone();
                p[..1].make_ascii_uppercase();
                p
            };
            let mut orders = HashSet::new();
            for entry in entries {
                let sentences = sentences(entry);
                // Each attribute once, its span holding the person's value.
                let stated: HashSet<usize> = sentences.iter().map(|(a, _)| *a).collect();
                assert_eq!(stated.len(), 6, "{name}: {}", entry.text);
                for (attribute, value) in person.values().iter().enumerate() {
                    assert_eq!(entry.value(attribute), *value, "{name}: {}", entry.text);
                }
                // The name opens the first sentence, permuted or not.
                assert!(
                    entry.text.starts_with(&format!("{} ", person.name)),
                    "{name}"
                );
                let order: Vec<usize> = sentences.iter().map(|(a, _)| *a).collect();
                if !variant.permute {
                    assert_eq!(order, [0, 1, 2, 3, 4, 5], "{name}: order rule");
                }
                orders.insert(order);
                for (position, (_, sentence)) in sentences.iter().enumerate().skip(1) {
                    let opener = if variant.fullname {
                        &person.name
                    } else {
                        &pronoun
                    };
                    assert!(
                        sentence.starts_with(&format!("{opener} ")),
                        "{name}: sentence {position} of `{}` should open with {opener}",
                        entry.text
                    );
                }
                if variant.fullname {
                    let left: Vec<String> = words(&entry.text)
                        .filter(|w| PRONOUNS.contains(&w.as_str()))
                        .collect();
                    assert!(
                        left.is_empty(),
                        "{name}: pronouns {left:?} in {}",
                        entry.text
                    );
                } else {
                    assert_eq!(
                        entry.text.matches(&person.name).count(),
                        1,
                        "{}",
                        entry.text
                    );
                }
            }
            if !variant.resample && variant.entries > 1 && person.pronoun != "they" {
                // single+permuteK: the same six sentences, reordered (with "they" the verbs
                // of the named sentence change with the subject).
                let bag = |e: &BioEntry| {
                    let mut s: Vec<String> = sentences(e)
                        .iter()
                        .map(|(_, s)| s.replacen(&person.name, &pronoun, 1))
                        .collect();
                    s.sort();
                    s
                };
                assert!(entries.iter().all(|e| bag(e) == bag(entries[0])), "{name}");
            }
        }
    }
}

#[test]
fn permuted_and_resampled_entries_vary() {
    let dir = tempfile::tempdir().unwrap();
    let generated = generate(&options(dir.path(), 50, "multi5+permute"));
    let mut first_sentences = HashSet::new();
    let mut texts = HashSet::new();
    for entry in &generated.entries {
        let sentences = sentences(entry);
        first_sentences.insert(sentences[0].0);
        texts.insert(entry.text.clone());
    }
    assert_eq!(first_sentences.len(), 6, "every attribute opens some entry");
    assert_eq!(texts.len(), generated.entries.len(), "no two entries alike");
}

#[test]
fn people_splits_and_qa_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let generated = generate(&options(dir.path(), 300, "single"));
    let names: HashSet<&str> = generated.people.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), 300, "full names are unique");
    let train = generated
        .people
        .iter()
        .filter(|p| p.split == "train")
        .count();
    assert_eq!(train, 150);
    assert!(generated.people.iter().all(|p| p.group == "all"));
    let pronouns: HashSet<&str> = generated
        .people
        .iter()
        .map(|p| p.pronoun.as_str())
        .collect();
    assert_eq!(pronouns, HashSet::from(["he", "she", "they"]));
    assert_eq!(generated.qa.len(), 300 * 6);
    let data = BioData::bundled().unwrap();
    let cities: HashMap<&str, &str> = data
        .pools
        .companies
        .iter()
        .map(|c| (c.name.as_str(), c.city.as_str()))
        .collect();
    for person in &generated.people {
        assert_eq!(cities[person.employer.as_str()], person.company_city);
        let (month_day, year) = person.birth_date.split_once(", ").unwrap();
        let year: u32 = year.parse().unwrap();
        let day: u32 = month_day.split(' ').nth(1).unwrap().parse().unwrap();
        assert!((1900..=2099).contains(&year) && (1..=28).contains(&day));
        let pairs: Vec<&QaPair> = generated
            .qa
            .iter()
            .filter(|q| q.person_id == person.person_id)
            .collect();
        let values = person.values();
        for (pair, attribute) in pairs.iter().zip(ATTRIBUTES) {
            assert_eq!(pair.attribute, attribute);
            assert_eq!(
                pair.answer,
                values[ATTRIBUTES.iter().position(|a| *a == attribute).unwrap()]
            );
            assert!(pair.question.contains(&person.name));
            assert_eq!(pair.split, person.split);
        }
    }
    // Entries are shuffled across people: consecutive rows rarely share a person.
    let multi = generate(&options(dir.path(), 200, "multi5"));
    let neighbours = multi
        .entries
        .windows(2)
        .filter(|w| w[0].person_id == w[1].person_id)
        .count();
    assert!(
        neighbours < 20,
        "{neighbours} of 999 neighbours share a person"
    );
}

#[test]
fn the_validation_split_is_carved_from_p_train_and_never_holds_a_p_test_person() {
    let dir = tempfile::tempdir().unwrap();
    let without = generate(&options(dir.path(), 400, "single"));
    let mut opts = options(dir.path(), 400, "single");
    opts.validation_fraction = 0.25;
    let with = generate(&opts);
    let ids = |people: &[Person], split: &str| -> HashSet<u32> {
        people
            .iter()
            .filter(|p| p.split == split)
            .map(|p| p.person_id)
            .collect()
    };
    let test = ids(&with.people, "test");
    let validation = ids(&with.people, "validation");
    let train = ids(&with.people, "train");
    // A quarter of P_train's 200 people, and P_test is the same 200 people as without it.
    assert_eq!((train.len(), validation.len(), test.len()), (150, 50, 200));
    assert!(validation.is_disjoint(&test) && validation.is_disjoint(&train));
    assert_eq!(test, ids(&without.people, "test"));
    let p_train: HashSet<u32> = train.union(&validation).copied().collect();
    assert_eq!(p_train, ids(&without.people, "train"));
    // The people themselves do not change, and their QA pairs carry their split.
    for (a, b) in with.people.iter().zip(&without.people) {
        assert_eq!((&a.name, a.values()), (&b.name, b.values()));
    }
    let split_of: HashMap<u32, &str> = with
        .people
        .iter()
        .map(|p| (p.person_id, p.split.as_str()))
        .collect();
    assert!(with.qa.iter().all(|q| q.split == split_of[&q.person_id]));
    opts.validation_fraction = 1.5;
    let refused = generate_bios(&opts, &ProgressBar::hidden()).unwrap_err();
    assert!(
        format!("{refused:#}").contains("--validation-fraction"),
        "{refused:#}"
    );
}

#[test]
fn celebrities_are_trained_and_the_minority_tested() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), 40, "single+permute1");
    opts.celebrities = 30;
    let generated = generate(&opts);
    assert_eq!(generated.people.len(), 70);
    for person in &generated.people {
        let celebrity = person.person_id >= 40;
        assert_eq!(
            person.group,
            if celebrity { "celebrity" } else { "minority" }
        );
        assert_eq!(person.split, if celebrity { "train" } else { "test" });
        let entries = generated
            .entries
            .iter()
            .filter(|e| e.person_id == person.person_id);
        let (count, variant) = if celebrity {
            (5, "multi5+permute")
        } else {
            (1, "single+permute1")
        };
        let entries: Vec<&BioEntry> = entries.collect();
        assert_eq!(entries.len(), count);
        assert!(entries.iter().all(|e| e.variant == variant));
    }
}

#[test]
fn pronoun_order_and_date_options() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), 20, "single");
    opts.pronouns = PronounRule::Parity;
    opts.order = "birth_date,birth_city,university,major,company_city,employer"
        .parse()
        .unwrap();
    opts.date_style = DateStyle::DayOfMonth;
    let generated = generate(&opts);
    for person in &generated.people {
        let expected = if person.person_id % 2 == 0 {
            "he"
        } else {
            "she"
        };
        assert_eq!(person.pronoun, expected);
        assert!(person.birth_date.contains(" of "), "{}", person.birth_date);
    }
    for entry in &generated.entries {
        let order: Vec<usize> = sentences(entry).iter().map(|(a, _)| *a).collect();
        assert_eq!(order, [0, 1, 2, 3, 5, 4]);
    }
    for bad in [
        "birth_date",
        "birth_date,birth_date,university,major,employer,company_city",
        "a,b,c,d,e,f",
    ] {
        assert!(bad.parse::<SentenceOrder>().is_err(), "{bad}");
    }
}

#[test]
fn bundled_pools_have_the_papers_sizes() {
    let data = BioData::bundled().unwrap();
    let pools = &data.pools;
    assert_eq!(pools.first_names.len(), 400);
    assert_eq!(pools.middle_names.len(), 400);
    assert_eq!(pools.last_names.len(), 1000);
    assert_eq!(pools.birth_cities.len(), 200);
    assert_eq!(pools.universities.len(), 300);
    assert_eq!(pools.majors.len(), 100);
    assert_eq!(pools.companies.len(), 263);
    let first: HashSet<&String> = pools.first_names.iter().collect();
    assert_eq!(
        pools
            .middle_names
            .iter()
            .filter(|m| first.contains(m))
            .count(),
        286
    );
    let cities: HashSet<&str> = pools.companies.iter().map(|c| c.city.as_str()).collect();
    assert_eq!(cities.len(), 133);
    let new_york = pools
        .companies
        .iter()
        .filter(|c| c.city == "New York, NY")
        .count();
    assert_eq!(
        new_york, 36,
        "the paper's 13.7 % company-city baseline is 36 / 263"
    );
    let counts: Vec<usize> = data.templates.iter().map(|t| t.sentences.len()).collect();
    assert_eq!(counts, [46, 49, 49, 52, 47, 48]);
}

fn copy_data(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/bios");
    let target = dir.join("bios-data");
    std::fs::create_dir_all(target.join("pools")).unwrap();
    for file in std::fs::read_dir(source.join("pools")).unwrap() {
        let file = file.unwrap().path();
        std::fs::copy(&file, target.join("pools").join(file.file_name().unwrap())).unwrap();
    }
    std::fs::copy(source.join("templates.toml"), target.join("templates.toml")).unwrap();
    target
}

fn gen_facts() -> Command {
    Command::cargo_bin("gen-facts").unwrap()
}

#[test]
fn same_seed_same_bytes_whatever_the_thread_count_and_bad_data_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let run = |threads: &str, seed: &str, out: &str| {
        let out = dir.path().join(out);
        let status = gen_facts()
            .env("RAYON_NUM_THREADS", threads)
            .args([
                "bios",
                "-n",
                "200",
                "--variant",
                "multi2+permute",
                "--seed",
                seed,
                "-o",
            ])
            .arg(&out)
            .arg("--qa")
            .arg(dir.path().join("qa.parquet"))
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read(out).unwrap()
    };
    let one = run("1", "3", "a.parquet");
    assert_eq!(one, run("2", "3", "b.parquet"));
    assert_ne!(one, run("2", "4", "c.parquet"));

    let data = copy_data(dir.path());
    let templates = data.join("templates.toml");
    let text = std::fs::read_to_string(&templates).unwrap();
    // The first sentence template loses its value.
    let line = text.find("\n  \"{Subject}").unwrap();
    let value = line + text[line..].find("{value}").unwrap();
    let broken = format!(
        "{}somewhere{}",
        &text[..value],
        &text[value + "{value}".len()..]
    );
    std::fs::write(&templates, broken).unwrap();
    let output = gen_facts()
        .args(["bios", "-n", "10", "-o"])
        .arg(dir.path().join("bad.parquet"))
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("templates.toml") && stderr.contains("{value}"),
        "{stderr}"
    );
    assert!(!dir.path().join("bad.parquet").exists());

    // A pool that lists an item twice is named, with the line.
    std::fs::write(&templates, &text).unwrap();
    let majors = data.join("pools/majors.txt");
    let pool = std::fs::read_to_string(&majors).unwrap();
    let first = pool
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .to_string();
    std::fs::write(&majors, format!("{pool}{first}\n")).unwrap();
    let output = gen_facts()
        .args(["bios", "-n", "10", "-o"])
        .arg(dir.path().join("bad.parquet"))
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("majors.txt") && stderr.contains("listed twice"),
        "{stderr}"
    );

    let output = gen_facts()
        .args(["bios", "-n", "0", "-o"])
        .arg(dir.path().join("empty.parquet"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("-n is 0"),
        "{stderr}"
    );
    assert!(!dir.path().join("empty.parquet").exists());

    let output = gen_facts()
        .args(["bios", "-n", "10", "--variant", "multi5+permute2", "-o"])
        .arg(dir.path().join("bad.parquet"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("single[+permuteK]"),
        "{stderr}"
    );
}
