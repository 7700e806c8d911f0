//! `probe hidden`: hidden states for the linear probes of Allen-Zhu & Li, Physics of LMs 3.1 §6.
//! P-probing reads a biography entry at the token just before each attribute value (the token
//! whose next-token prediction is the value's first token); Q-probing reads the end-of-text token
//! after a person's full name alone.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{anyhow, bail, Context, Result};
use candle_core::Tensor;
use factlab_artifacts::outputs::set_of;
use factlab_artifacts::{
    display_path, read_rows, Artifact, BioEntry, HiddenState, HiddenWriter, Person, ATTRIBUTES,
};
use indicatif::ProgressBar;

use crate::{LoadedModel, ModelSource};

/// The label of the Q-probing position.
pub const NAME_END: &str = "name_end";

/// Which tokens of a biography entry are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PositionSpec {
    /// The token just before each attribute value, labelled by the attribute.
    Attributes,
    /// Token index K of the input, the leading end-of-text token being 0; labelled `index:K`.
    Index(usize),
}

impl FromStr for PositionSpec {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        if text == "attributes" {
            return Ok(PositionSpec::Attributes);
        }
        text.strip_prefix("index:")
            .and_then(|k| k.parse().ok())
            .map(PositionSpec::Index)
            .ok_or_else(|| {
                format!("`{text}`: expected `attributes` or `index:K` (K a token index)")
            })
    }
}

/// A layer: 0 is the embedding's output, L the output of block L; `last` is the final block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerSpec {
    Index(usize),
    Last,
}

impl FromStr for LayerSpec {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "last" => Ok(LayerSpec::Last),
            _ => text.parse().map(LayerSpec::Index).map_err(|_| {
                format!("`{text}`: expected a layer number (0: the embedding) or `last`")
            }),
        }
    }
}

/// The layers to read, ascending and each once; an error names a layer the model lacks.
pub fn resolve_layers(specs: &[LayerSpec], num_layers: usize) -> Result<Vec<usize>> {
    let mut layers = specs
        .iter()
        .map(|spec| match *spec {
            LayerSpec::Last => Ok(num_layers),
            LayerSpec::Index(layer) if layer <= num_layers => Ok(layer),
            LayerSpec::Index(layer) => Err(anyhow!(
                "--layers {layer}: the model has {num_layers} layers; expected 0 (the \
                 embedding) to {num_layers}, or `last`"
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    layers.sort_unstable();
    layers.dedup();
    Ok(layers)
}

pub enum HiddenInput {
    /// Biography entries (bios.parquet): P-probing.
    Bios {
        path: PathBuf,
        positions: Vec<PositionSpec>,
    },
    /// People (people.parquet): Q-probing on the full name.
    People { path: PathBuf },
}

pub struct HiddenOptions {
    pub model: ModelSource,
    pub input: HiddenInput,
    /// Only the first N rows of the input.
    pub limit: Option<usize>,
    pub layers: Vec<LayerSpec>,
    pub output: PathBuf,
}

pub struct HiddenSummary {
    pub inputs: usize,
    pub rows: usize,
    pub layers: Vec<usize>,
    pub width: usize,
}

/// One model input and the tokens to read in it.
struct ProbeInput {
    person_id: u32,
    entry: u32,
    ids: Vec<u32>,
    /// Label and token index, in output order.
    positions: Vec<(String, usize)>,
}

/// Reads the input file, runs the model and writes one row per input, position and layer.
pub fn hidden(options: &HiddenOptions, bar: &ProgressBar) -> Result<HiddenSummary> {
    let loaded = LoadedModel::load(
        &options.model.checkpoint,
        &options.model.tokenizer,
        &options.model.device,
    )?;
    let layers = resolve_layers(&options.layers, loaded.config.num_layers)?;
    let limit = options.limit.unwrap_or(usize::MAX);
    let (HiddenInput::Bios { path: source, .. } | HiddenInput::People { path: source }) =
        &options.input;
    // The biography set the people come from, so that `fit linear-probe` can check that its
    // people file belongs to the same `gen-facts bios` run.
    let bios_set = set_of(source)?.map(|set| set.id);
    let inputs = match &options.input {
        HiddenInput::Bios { path, positions } => {
            let mut entries = read_rows::<BioEntry>(path)?;
            entries.truncate(limit);
            bio_inputs(&loaded, &entries, positions, path)?
        }
        HiddenInput::People { path } => {
            let mut people = read_rows::<Person>(path)?;
            people.truncate(limit);
            people_inputs(&loaded, &people, path)?
        }
    };
    let width = loaded.config.hidden_size;
    let mut writer = HiddenWriter::create(&options.output, width)?;
    bar.set_length(inputs.len() as u64);
    let mut rows = 0;
    for chunk in inputs.chunks(options.model.batch_size.max(1)) {
        let states = read_states(&loaded, chunk, &layers)?;
        rows += states.len();
        writer.write(&states)?;
        bar.inc(chunk.len() as u64);
    }
    let made_from: Vec<(&str, &str)> = bios_set
        .iter()
        .map(|id| (BioEntry::NAME, id.as_str()))
        .collect();
    writer.finish(&made_from)?;
    Ok(HiddenSummary {
        inputs: inputs.len(),
        rows,
        layers,
        width,
    })
}

/// P-probing inputs: the end-of-text token, then the entry's text, cut after the last token
/// read (a causal model's state there does not depend on what follows).
fn bio_inputs(
    loaded: &LoadedModel,
    entries: &[BioEntry],
    specs: &[PositionSpec],
    origin: &Path,
) -> Result<Vec<ProbeInput>> {
    let file = display_path(origin);
    entries
        .iter()
        .enumerate()
        .map(|(row, entry)| {
            let what = format!(
                "{file}: row {row} (person {}, entry {})",
                entry.person_id, entry.entry
            );
            let encoding = loaded
                .tokenizer
                .encode(entry.text.as_str(), false)
                .map_err(|e| anyhow!("{what}: tokenizing the text: {e}"))?;
            let mut ids = vec![loaded.end_of_text];
            ids.extend_from_slice(encoding.get_ids());
            let mut positions = Vec::new();
            for spec in specs {
                match *spec {
                    PositionSpec::Attributes => {
                        let indices = value_positions(
                            encoding.get_offsets(),
                            &entry.text,
                            &entry.value_starts,
                        )
                        .map_err(|message| anyhow!("{what}, column `value_starts`: {message}"))?;
                        positions.extend(
                            ATTRIBUTES
                                .iter()
                                .zip(indices)
                                .map(|(name, index)| (name.to_string(), index)),
                        );
                    }
                    PositionSpec::Index(index) => {
                        if index >= ids.len() {
                            bail!(
                                "{what}: --positions index:{index} is outside the input, which \
                                 has {} tokens (the leading end-of-text token included)",
                                ids.len()
                            );
                        }
                        positions.push((format!("index:{index}"), index));
                    }
                }
            }
            let end = positions
                .iter()
                .map(|&(_, index)| index + 1)
                .max()
                .unwrap_or(1);
            ids.truncate(end);
            check_context(loaded, &ids, &what)?;
            Ok(ProbeInput {
                person_id: entry.person_id,
                entry: entry.entry,
                ids,
                positions,
            })
        })
        .collect()
}

/// Q-probing inputs: end-of-text, the full name, end-of-text; read at the last token.
fn people_inputs(
    loaded: &LoadedModel,
    people: &[Person],
    origin: &Path,
) -> Result<Vec<ProbeInput>> {
    let file = display_path(origin);
    people
        .iter()
        .enumerate()
        .map(|(row, person)| {
            let what = format!("{file}: row {row} (person {})", person.person_id);
            let mut ids = vec![loaded.end_of_text];
            ids.extend(loaded.encode(&person.name, &format_args!("{what}, column `name`"))?);
            ids.push(loaded.end_of_text);
            check_context(loaded, &ids, &what)?;
            Ok(ProbeInput {
                person_id: person.person_id,
                entry: 0,
                positions: vec![(NAME_END.to_string(), ids.len() - 1)],
                ids,
            })
        })
        .collect()
}

fn check_context(loaded: &LoadedModel, ids: &[u32], what: &str) -> Result<()> {
    let context = loaded.config.max_position_embeddings;
    if ids.len() > context {
        bail!(
            "{what}: the tokens read reach index {}, beyond the model's context of {context} \
             tokens",
            ids.len() - 1
        );
    }
    Ok(())
}

/// For each attribute value starting at byte `starts[i]` of `text`, the index (in the input
/// that puts the end-of-text token before the text) of the token just before the value's first
/// token. `offsets` are the text's token byte spans. A value must begin a token, give or take
/// whitespace the token starts with (byte-level BPE joins a word to the space before it).
pub fn value_positions(
    offsets: &[(usize, usize)],
    text: &str,
    starts: &[u32],
) -> std::result::Result<Vec<usize>, String> {
    starts
        .iter()
        .zip(ATTRIBUTES)
        .map(|(&start, attribute)| {
            let start = start as usize;
            let token = offsets
                .iter()
                .position(|&(from, to)| from <= start && start < to)
                .ok_or_else(|| {
                    format!(
                        "no token covers byte {start}, where the {attribute} value starts (the \
                         text has {} bytes)",
                        text.len()
                    )
                })?;
            let (from, to) = offsets[token];
            if !text[from..start].chars().all(char::is_whitespace) {
                return Err(format!(
                    "the {attribute} value starts at byte {start}, inside the token `{}` (bytes \
                     {from}..{to}); expected the value to begin a token, so that the token \
                     before it predicts the value's first token",
                    &text[from..to]
                ));
            }
            // Token `token` of the text is input index `token + 1`; the one before it, `token`.
            Ok(token)
        })
        .collect()
}

/// The states of `layers` at every input's positions, in input, position, layer order.
fn read_states(
    loaded: &LoadedModel,
    inputs: &[ProbeInput],
    layers: &[usize],
) -> Result<Vec<HiddenState>> {
    let width = inputs.iter().map(|i| i.ids.len()).max().unwrap_or(0);
    // Padding goes after each input's last read token, where a causal model never looks.
    let flat: Vec<u32> = inputs
        .iter()
        .flat_map(|i| {
            i.ids
                .iter()
                .copied()
                .chain(std::iter::repeat(loaded.end_of_text))
                .take(width)
        })
        .collect();
    let device = &loaded.device;
    let ids = Tensor::from_vec(flat, (inputs.len(), width), device)?;
    let positions: Vec<u32> = inputs
        .iter()
        .enumerate()
        .flat_map(|(row, input)| {
            input
                .positions
                .iter()
                .map(move |&(_, index)| (row * width + index) as u32)
        })
        .collect();
    let count = positions.len();
    let positions = Tensor::from_vec(positions, count, device)?;
    let (_, hidden) = loaded
        .model
        .forward_with_hidden(&ids, true)
        .context("running the model")?;
    let hidden_size = loaded.config.hidden_size;
    let by_layer = layers
        .iter()
        .map(|&layer| -> Result<Vec<Vec<f32>>> {
            Ok(hidden[layer]
                .reshape((inputs.len() * width, hidden_size))?
                .index_select(&positions, 0)?
                .to_device(&candle_core::Device::Cpu)?
                .to_vec2::<f32>()?)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut states = Vec::with_capacity(count * layers.len());
    let mut at = 0;
    for input in inputs {
        for (label, index) in &input.positions {
            for (&layer, vectors) in layers.iter().zip(&by_layer) {
                states.push(HiddenState {
                    person_id: input.person_id,
                    entry: input.entry,
                    position: label.clone(),
                    token_index: *index as u32,
                    layer: layer as u32,
                    vector: vectors[at].clone(),
                });
            }
            at += 1;
        }
    }
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_positions_and_layers() {
        assert_eq!("attributes".parse(), Ok(PositionSpec::Attributes));
        assert_eq!("index:12".parse(), Ok(PositionSpec::Index(12)));
        assert!("index:".parse::<PositionSpec>().is_err());
        assert!("first".parse::<PositionSpec>().is_err());
        let specs: Vec<LayerSpec> = ["last", "0", "2", "last"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(resolve_layers(&specs, 4).unwrap(), vec![0, 2, 4]);
        let error = resolve_layers(&[LayerSpec::Index(5)], 4).unwrap_err();
        assert!(error.to_string().contains("--layers 5"), "{error}");
    }

    /// Hand-made tokens of `"Ann was born in Paris. She studied at Yale."`, as byte-level BPE
    /// splits them: words carry the space before them.
    fn tokens() -> (&'static str, Vec<(usize, usize)>) {
        let text = "Ann was born in Paris. She studied at Yale.";
        let mut offsets = Vec::new();
        let mut from = 0;
        for piece in [
            "Ann", " was", " born", " in", " Paris", ".", " She", " studied", " at",
        ] {
            offsets.push((from, from + piece.len()));
            from += piece.len();
        }
        offsets.push((from, from + 2)); // " Y"
        offsets.push((from + 2, from + 5)); // "ale"
        offsets.push((from + 5, from + 6)); // "."
        (text, offsets)
    }

    #[test]
    fn the_position_before_a_value_is_the_token_that_predicts_its_first_token() {
        let (text, offsets) = tokens();
        let at = |word: &str| text.find(word).unwrap() as u32;
        // Every attribute at one of the three values: Ann (the first token), Paris, Yale.
        let starts = [at("Paris"), at("Yale"), 0, at("Paris"), at("Yale"), 0];
        let positions = value_positions(&offsets, text, &starts).unwrap();
        // Input: [end-of-text, Ann, was, born, in, Paris, ...]: " Paris" is input index 5,
        // predicted at index 4 (" in"); " Y" is index 10, predicted at 9 (" at"); "Ann" is
        // predicted by the end-of-text token.
        assert_eq!(positions, vec![4, 9, 0, 4, 9, 0]);
    }

    #[test]
    fn a_value_that_starts_inside_a_token_is_an_error_naming_the_token() {
        let (text, offsets) = tokens();
        let le = text.find("le.").unwrap() as u32;
        let starts = [0, 0, 0, 0, le, 0];
        let error = value_positions(&offsets, text, &starts).unwrap_err();
        assert!(
            error.contains("employer value starts at byte 40")
                && error.contains("inside the token `ale`")
                && error.contains("bytes 39..42"),
            "{error}"
        );
        let error = value_positions(&offsets, text, &[0, 0, 0, 0, 0, 99]).unwrap_err();
        assert!(error.contains("no token covers byte 99"), "{error}");
    }
}
