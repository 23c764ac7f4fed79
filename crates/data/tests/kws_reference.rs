//! The KWS front end and data set against the reference made with TensorFlow (../shared).
use std::collections::BTreeSet;
use std::path::PathBuf;

use mw_data::mfcc::NUM_FEATURES;
use mw_data::speech_commands::{features, LABELS};
use mw_data::{read_npy, MfccFrontEnd, SpeechCommands, Split};

const CLIPS: &str = "data/speech_commands_v0.02_test";
const REFERENCE: &str = "data/kws_reference_features";

fn shared(test: &str) -> Option<(PathBuf, PathBuf)> {
    let clips = mw_testkit::shared_or_skip(test, CLIPS)?;
    let reference = mw_testkit::shared_or_skip(test, REFERENCE)?;
    Some((clips, reference))
}

/// `files.txt`: one clip per line, relative to the test-set folder (`down/022cd682_nohash_0.wav`).
fn reference_files(reference: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(reference.join("files.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn clip_order_and_labels_match_the_reference() {
    let Some((clips_dir, reference)) = shared("clip_order_and_labels_match_the_reference") else {
        return;
    };
    let data = SpeechCommands::open(&clips_dir).unwrap();
    let listed: Vec<String> = data
        .clips(Split::All)
        .map(|c| {
            let rel = c.path.strip_prefix(&clips_dir).unwrap();
            rel.to_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(listed, reference_files(&reference));
    let labels = read_npy(&reference.join("labels.npy")).unwrap();
    let labels = labels.as_slice::<i64>().unwrap();
    let ours: Vec<i64> = data.clips(Split::All).map(|c| c.label as i64).collect();
    assert_eq!(ours, labels);
    // Every class folder's clips carry the index of that folder in LABELS.
    for clip in data.clips(Split::All) {
        let folder = clip.path.parent().unwrap().file_name().unwrap();
        assert_eq!(folder.to_str().unwrap(), LABELS[clip.label]);
    }
}

#[test]
fn speaker_split_has_the_documented_counts() {
    let Some((clips_dir, _)) = shared("speaker_split_has_the_documented_counts") else {
        return;
    };
    let data = SpeechCommands::open(&clips_dir).unwrap();
    let cal: Vec<_> = data.clips(Split::Calibration).collect();
    let eval: Vec<_> = data.clips(Split::Eval).collect();
    let cal_speakers: BTreeSet<&str> = cal.iter().map(|c| c.speaker.as_str()).collect();
    let eval_speakers: BTreeSet<&str> = eval.iter().map(|c| c.speaker.as_str()).collect();
    assert_eq!(cal.len(), 440);
    assert_eq!(cal_speakers.len(), 62);
    assert_eq!(eval.len(), 4450);
    assert!(cal_speakers.is_disjoint(&eval_speakers));
    assert_eq!(data.clips(Split::All).count(), 4890);
}

#[test]
fn mfcc_matches_the_tensorflow_reference_on_every_clip() {
    let test = "mfcc_matches_the_tensorflow_reference_on_every_clip";
    let Some((clips_dir, reference)) = shared(test) else {
        return;
    };
    let data = SpeechCommands::open(&clips_dir).unwrap();
    let expected = read_npy(&reference.join("mfcc.npy")).unwrap();
    assert_eq!(expected.shape(), &[4890, 49, 10, 1]);
    let front = MfccFrontEnd::new();
    let start = std::time::Instant::now();
    let ours = features(&front, data.clips(Split::All)).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(ours.shape(), expected.shape());
    let (ours, expected) = (
        ours.as_slice::<f32>().unwrap(),
        expected.as_slice::<f32>().unwrap(),
    );
    let files = reference_files(&reference);
    let mut worst = (0f32, 0usize);
    for (i, (a, b)) in ours.iter().zip(expected).enumerate() {
        let err = (a - b).abs();
        // NaN compares false, so a NaN anywhere fails here.
        assert!(
            err <= 1e-3,
            "{}: element {} differs by {err}",
            files[i / NUM_FEATURES],
            i % NUM_FEATURES
        );
        if err > worst.0 {
            worst = (err, i);
        }
    }
    eprintln!(
        "MFCC vs TensorFlow: max abs error {:.3e} ({}), 4890 clips read + featurized in {:.2?}",
        worst.0,
        files[worst.1 / NUM_FEATURES],
        elapsed
    );
}
