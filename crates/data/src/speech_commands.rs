//! The Speech Commands v0.02 12-class test set laid out as one folder per class.
//!
//! Labels follow the MLPerf Tiny model's output order ([`LABELS`], verified against the
//! reference `labels.npy`). Clips are ordered by label index, then by file name (bytewise),
//! which is the order of the reference `files.txt`.
//!
//! Calibration split: a clip belongs to it when the first byte of SHA-256(its speaker id) is
//! below [`CALIBRATION_HASH_BELOW`]; the rest is the evaluation split. Splitting by speaker keeps
//! every speaker's clips on one side.
use std::path::{Path, PathBuf};

use mw_tensor::{Tensor, TensorError};
use sha2::{Digest, Sha256};

use crate::mfcc::{MfccFrontEnd, NUM_COEFFS, NUM_FEATURES, NUM_FRAMES};
use crate::{read_wav, DataError};

/// Class folder names in model output order.
pub const LABELS: [&str; 12] = [
    "down",
    "go",
    "left",
    "no",
    "off",
    "on",
    "right",
    "stop",
    "up",
    "yes",
    "_silence_",
    "_unknown_",
];

/// A speaker is in the calibration split when the first byte of SHA-256(speaker id) is below this.
pub const CALIBRATION_HASH_BELOW: u8 = 26;

/// Which clips to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    All,
    Calibration,
    Eval,
}

/// One clip: its file, label index into [`LABELS`] and speaker id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clip {
    pub path: PathBuf,
    pub label: usize,
    pub speaker: String,
}

impl Clip {
    /// Whether the clip is in `split`.
    pub fn in_split(&self, split: Split) -> bool {
        match split {
            Split::All => true,
            Split::Calibration => is_calibration_speaker(&self.speaker),
            Split::Eval => !is_calibration_speaker(&self.speaker),
        }
    }
}

/// The listed data set.
#[derive(Clone, Debug)]
pub struct SpeechCommands {
    root: PathBuf,
    clips: Vec<Clip>,
}

impl SpeechCommands {
    /// Lists `dir/<label>/*.wav` for every label of [`LABELS`]; a missing class folder or a
    /// non-UTF-8 file name is a [`DataError::Dataset`]. Files are not opened here.
    pub fn open(dir: &Path) -> Result<SpeechCommands, DataError> {
        let mut clips = Vec::new();
        for (label, name) in LABELS.iter().enumerate() {
            let folder = dir.join(name);
            if !folder.is_dir() {
                return Err(DataError::Dataset {
                    path: dir.to_path_buf(),
                    detail: format!("class folder {name:?} is missing"),
                });
            }
            let mut names = wav_names(&folder)?;
            names.sort();
            clips.extend(names.into_iter().map(|file| Clip {
                speaker: speaker_id(&file).to_string(),
                path: folder.join(file),
                label,
            }));
        }
        Ok(SpeechCommands {
            root: dir.to_path_buf(),
            clips,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The clips of `split`, in data set order.
    pub fn clips(&self, split: Split) -> impl Iterator<Item = &Clip> {
        self.clips.iter().filter(move |c| c.in_split(split))
    }
}

/// File names ending in `.wav` in `folder`.
fn wav_names(folder: &Path) -> Result<Vec<String>, DataError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(|e| DataError::io(folder, e))? {
        let entry = entry.map_err(|e| DataError::io(folder, e))?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|n| DataError::Dataset {
                path: folder.to_path_buf(),
                detail: format!("file name {n:?} is not UTF-8"),
            })?;
        if name.ends_with(".wav") && entry.path().is_file() {
            names.push(name);
        }
    }
    Ok(names)
}

/// The 8-hex-digit token right before `_nohash_` in a file name (`<prefix_>0a7c2a8d_nohash_1.wav`
/// → `0a7c2a8d`); otherwise the name up to its first `.` (`1024.wav` → `1024`).
pub fn speaker_id(file_name: &str) -> &str {
    if let Some(pos) = file_name.find("_nohash_") {
        let before = &file_name[..pos];
        if before.len() >= 8 && before.is_char_boundary(before.len() - 8) {
            let token = &before[before.len() - 8..];
            if token.bytes().all(|b| b.is_ascii_hexdigit()) {
                return token;
            }
        }
    }
    file_name.split('.').next().unwrap_or(file_name)
}

/// Whether `speaker` belongs to the calibration split.
pub fn is_calibration_speaker(speaker: &str) -> bool {
    Sha256::digest(speaker.as_bytes())[0] < CALIBRATION_HASH_BELOW
}

/// MFCC features of `clips`, in order, as `[clips.len(), 49, 10, 1]` f32: the model's input.
///
/// Single-threaded and deterministic. For parallelism, run [`feature_values`] on chunks of the
/// list (e.g. with rayon), concatenate in chunk order and wrap with [`features_tensor`].
pub fn features<'a>(
    front: &MfccFrontEnd,
    clips: impl IntoIterator<Item = &'a Clip>,
) -> Result<Tensor, DataError> {
    let values = feature_values(front, clips)?;
    Ok(features_tensor(values).expect("whole clips by construction"))
}

/// MFCC features of `clips`, in order, flat: [`NUM_FEATURES`] values per clip.
pub fn feature_values<'a>(
    front: &MfccFrontEnd,
    clips: impl IntoIterator<Item = &'a Clip>,
) -> Result<Vec<f32>, DataError> {
    let mut values = Vec::new();
    for clip in clips {
        let samples = read_wav(&clip.path)?;
        let start = values.len();
        values.resize(start + NUM_FEATURES, 0.0);
        front.compute_into(&samples, &mut values[start..]);
    }
    Ok(values)
}

/// Flat per-clip features as the model input `[n, 49, 10, 1]`; an error when `values.len()` is
/// not a multiple of [`NUM_FEATURES`].
pub fn features_tensor(values: Vec<f32>) -> Result<Tensor, TensorError> {
    Tensor::from_vec(
        vec![values.len() / NUM_FEATURES, NUM_FRAMES, NUM_COEFFS, 1],
        values,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaker_is_the_hex_token_before_nohash_or_the_stem() {
        assert_eq!(speaker_id("0a7c2a8d_nohash_1.wav"), "0a7c2a8d");
        assert_eq!(speaker_id("zero_d0faf7e4_nohash_4.wav.wav"), "d0faf7e4");
        assert_eq!(speaker_id("1024.wav"), "1024");
        // Not eight hex digits before `_nohash_`: the stem.
        assert_eq!(speaker_id("speaker_nohash_0.wav"), "speaker_nohash_0");
        assert_eq!(speaker_id("é_nohash_0.wav"), "é_nohash_0");
    }

    #[test]
    fn calibration_speakers_hash_below_26() {
        // SHA-256 first bytes: 0c40e715 → 25, d0faf7e4 → 31, 022cd682 → 46.
        assert!(is_calibration_speaker("0c40e715"));
        assert!(!is_calibration_speaker("d0faf7e4"));
        assert!(!is_calibration_speaker("022cd682"));
    }
}
