//! Simple reversals: comparisons between two nonsense entities ("femp are more dangerous than
//! glon"), each trained in several documents behind different preambles and tested only in
//! reverse, against the contradictory relation.

use anyhow::{ensure, Result};
use factlab_artifacts::Knowledge;
use factlab_rng::Rng;

use super::words::WordSource;
use super::{
    sentence_question, shuffled_documents, triple, Dataset, LampinenData, ReversalsOptions,
    FACTS_STREAM, QUESTIONS_STREAM, REVERSALS_DATASET, WORDS_STREAM,
};

pub(super) fn build(options: &ReversalsOptions, data: &LampinenData) -> Result<Dataset> {
    ensure!(
        options.facts > 0,
        "-n is 0; expected at least one fact (the paper: 100)"
    );
    ensure!(
        options.copies > 0,
        "--copies is 0; expected at least one document per fact (the paper: 10)"
    );
    let relations = &data.relations;
    let mut words = WordSource::new(
        &data.phonemes,
        &data.stoplist,
        Rng::derive(options.seed, &[WORDS_STREAM]),
    );
    let mut rng = Rng::derive(options.seed, &[FACTS_STREAM]);
    let mut question_rng = Rng::derive(options.seed, &[QUESTIONS_STREAM]);
    // Features in a shuffled cycle: with at least as many facts as features, all are used.
    let mut features: Vec<usize> = (0..data.features.len()).collect();
    rng.shuffle(&mut features);
    let mut documents = Vec::new();
    let mut questions = Vec::new();
    for index in 0..options.facts as usize {
        let feature = &data.features[features[index % features.len()]];
        // Fresh entities per fact: no two facts chain, so a reversal follows only from its fact.
        let (subject, object) = (words.next_word()?, words.next_word()?);
        let stated = if rng.chance(0.5) {
            &feature.more
        } else {
            &feature.less
        };
        let sentence = relations.state(&subject, stated, &object)?;
        let fact = triple(&subject, stated, &object);
        let copies = options.copies as usize;
        let preambles: Vec<usize> = if copies <= data.preambles.len() {
            rng.sample_indices(data.preambles.len(), copies)
        } else {
            (0..copies)
                .map(|_| rng.below(data.preambles.len()))
                .collect()
        };
        for preamble in preambles {
            documents.push(Knowledge {
                id: 0,
                dataset: REVERSALS_DATASET.to_string(),
                entity: Some(subject.clone()),
                entity_type: None,
                text: format!("{} {sentence}", data.preambles[preamble]),
                paraphrases: Vec::new(),
                facts: vec![fact.clone()],
            });
        }
        let reverse = &relations.reverse_of(stated)?.name;
        questions.push(sentence_question(
            relations,
            REVERSALS_DATASET,
            &feature.name,
            vec![
                (triple(&object, reverse, &subject), true),
                (triple(&object, stated, &subject), false),
            ],
            0,
            &mut question_rng,
        )?);
    }
    Ok(Dataset {
        documents: shuffled_documents(documents, options.seed),
        questions,
        vocabulary: Vec::new(),
        holdouts: Vec::new(),
    })
}
