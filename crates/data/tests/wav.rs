mod common;

use common::TempDir;
use mw_data::{read_wav, DataError};

fn write_wav(path: &std::path::Path, rate: u32, channels: u16, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn reads_16k_mono_int16() {
    let dir = TempDir::new("wav-ok");
    let path = dir.join("ok.wav");
    let samples: Vec<i16> = (0..1000).map(|i| (i * 37 % 2001 - 1000) as i16).collect();
    write_wav(&path, 16_000, 1, &samples);
    assert_eq!(read_wav(&path).unwrap(), samples);
}

#[test]
fn refuses_other_sample_rates_naming_the_file() {
    let dir = TempDir::new("wav-rate");
    let path = dir.join("8k.wav");
    write_wav(&path, 8_000, 1, &[1, 2, 3]);
    let err = read_wav(&path).unwrap_err();
    assert!(matches!(err, DataError::WavFormat { .. }), "{err}");
    assert_eq!(err.path(), path);
    assert!(err.to_string().contains("8k.wav") && err.to_string().contains("8000 Hz"));
}

#[test]
fn refuses_stereo() {
    let dir = TempDir::new("wav-stereo");
    let path = dir.join("stereo.wav");
    write_wav(&path, 16_000, 2, &[1, 2, 3, 4]);
    let err = read_wav(&path).unwrap_err();
    assert!(matches!(err, DataError::WavFormat { .. }), "{err}");
    assert!(err.to_string().contains("2 channels"), "{err}");
}

#[test]
fn refuses_float_and_8_bit_samples() {
    let dir = TempDir::new("wav-format");
    let float = dir.join("float.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&float, spec).unwrap();
    w.write_sample(0.5f32).unwrap();
    w.finalize().unwrap();
    let err = read_wav(&float).unwrap_err();
    assert!(err.to_string().contains("floating point"), "{err}");

    let eight = dir.join("eight.wav");
    let spec = hound::WavSpec {
        bits_per_sample: 8,
        sample_format: hound::SampleFormat::Int,
        ..spec
    };
    let mut w = hound::WavWriter::create(&eight, spec).unwrap();
    w.write_sample(3i8).unwrap();
    w.finalize().unwrap();
    let err = read_wav(&eight).unwrap_err();
    assert!(err.to_string().contains("8-bit"), "{err}");
}

#[test]
fn truncated_data_chunk_is_a_typed_error() {
    let dir = TempDir::new("wav-trunc");
    let path = dir.join("cut.wav");
    write_wav(&path, 16_000, 1, &vec![7i16; 1000]);
    let full = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(full - 501).unwrap();
    drop(f);
    let err = read_wav(&path).unwrap_err();
    match &err {
        DataError::Truncated {
            expected, actual, ..
        } => {
            assert_eq!(*expected, 2000);
            assert!(*actual < 2000);
        }
        other => panic!("expected Truncated, got {other}"),
    }
    assert_eq!(err.path(), path);
}

#[test]
fn garbage_and_missing_files_are_typed_errors() {
    let dir = TempDir::new("wav-garbage");
    let path = dir.join("noise.wav");
    std::fs::write(&path, b"definitely not a RIFF file").unwrap();
    let err = read_wav(&path).unwrap_err();
    assert!(matches!(err, DataError::Wav { .. }), "{err}");
    assert_eq!(err.path(), path);

    let header_only = dir.join("short.wav");
    std::fs::write(&header_only, b"RIFF").unwrap();
    assert!(read_wav(&header_only).is_err());

    let missing = dir.join("missing.wav");
    let err = read_wav(&missing).unwrap_err();
    assert_eq!(err.path(), missing);
}
