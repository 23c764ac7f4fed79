mod common;

use common::TempDir;
use mw_data::speech_commands::{feature_values, features, features_tensor, LABELS};
use mw_data::{DataError, MfccFrontEnd, SpeechCommands, Split};

fn write_clip(path: &std::path::Path, seed: i32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..16_000 {
        w.write_sample(((i * (seed + 3)) % 4001 - 2000) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

/// A miniature data set: two clips in `yes`, one in `_silence_`, none elsewhere.
fn mini_set(dir: &TempDir) {
    for label in LABELS {
        std::fs::create_dir(dir.join(label)).unwrap();
    }
    write_clip(&dir.join("yes/0c40e715_nohash_1.wav"), 1);
    write_clip(&dir.join("yes/022cd682_nohash_0.wav"), 2);
    write_clip(&dir.join("_silence_/1024.wav"), 3);
    std::fs::write(dir.join("yes/notes.txt"), "not a clip").unwrap();
}

#[test]
fn lists_sorted_clips_with_labels_and_speakers() {
    let dir = TempDir::new("sc-list");
    mini_set(&dir);
    let data = SpeechCommands::open(dir.path()).unwrap();
    let all: Vec<_> = data.clips(Split::All).collect();
    let names: Vec<_> = all
        .iter()
        .map(|c| c.path.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["022cd682_nohash_0.wav", "0c40e715_nohash_1.wav", "1024.wav"]
    );
    assert_eq!(all.iter().map(|c| c.label).collect::<Vec<_>>(), [9, 9, 10]);
    assert_eq!(all[2].speaker, "1024");
    // 0c40e715 hashes below 26, the others do not.
    let cal: Vec<_> = data.clips(Split::Calibration).collect();
    assert_eq!(cal.len(), 1);
    assert_eq!(cal[0].speaker, "0c40e715");
    assert_eq!(data.clips(Split::Eval).count(), 2);
}

#[test]
fn missing_class_folder_is_a_dataset_error() {
    let dir = TempDir::new("sc-missing");
    mini_set(&dir);
    std::fs::remove_dir_all(dir.join("go")).unwrap();
    let err = SpeechCommands::open(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::Dataset { .. }), "{err}");
    assert!(err.to_string().contains("\"go\""), "{err}");
}

#[test]
fn features_are_deterministic_and_chunkable() {
    let dir = TempDir::new("sc-features");
    mini_set(&dir);
    let data = SpeechCommands::open(dir.path()).unwrap();
    let clips: Vec<_> = data.clips(Split::All).cloned().collect();
    let front = MfccFrontEnd::new();
    let whole = features(&front, &clips).unwrap();
    assert_eq!(whole.shape(), &[3, 49, 10, 1]);
    // Chunks computed separately and concatenated give the same tensor.
    let mut values = feature_values(&front, &clips[..1]).unwrap();
    values.extend(feature_values(&front, &clips[1..]).unwrap());
    assert_eq!(features_tensor(values).unwrap(), whole);
    assert!(features_tensor(vec![0.0; 491]).is_err());
}

#[test]
fn a_bad_clip_fails_the_batch_naming_it() {
    let dir = TempDir::new("sc-bad");
    mini_set(&dir);
    let bad = dir.join("yes/022cd682_nohash_0.wav");
    std::fs::write(&bad, b"RIFF....WAVE").unwrap();
    let data = SpeechCommands::open(dir.path()).unwrap();
    let err = features(&MfccFrontEnd::new(), data.clips(Split::All)).unwrap_err();
    assert_eq!(err.path(), bad);
}
