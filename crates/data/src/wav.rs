//! WAV input: 16 kHz mono 16-bit integer PCM only, everything else is a typed error.
use std::io::Cursor;
use std::path::Path;

use crate::DataError;

/// The only sample rate the KWS front end accepts.
pub const SAMPLE_RATE: u32 = 16_000;

/// Largest WAV file read (128 MiB: about 70 minutes of 16 kHz mono int16).
pub const MAX_WAV_BYTES: u64 = 1 << 27;

/// Reads every sample of a 16 kHz mono 16-bit PCM WAV file.
///
/// hound parses and validates the container; the samples are then decoded straight from the
/// file's bytes. Errors: unreadable or malformed container ([`DataError::Wav`]), another rate,
/// channel count, sample width or a float format ([`DataError::WavFormat`]), a data chunk
/// shorter than its header says ([`DataError::Truncated`]), a file over [`MAX_WAV_BYTES`]
/// ([`DataError::TooLarge`]).
pub fn read_wav(path: &Path) -> Result<Vec<i16>, DataError> {
    let file_len = std::fs::metadata(path)
        .map_err(|e| DataError::io(path, e))?
        .len();
    if file_len > MAX_WAV_BYTES {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            what: "WAV file",
            bytes: file_len,
            cap: MAX_WAV_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let reader =
        hound::WavReader::new(Cursor::new(bytes.as_slice())).map_err(|source| DataError::Wav {
            path: path.to_path_buf(),
            source,
        })?;
    check_spec(path, reader.spec())?;
    let expected = u64::from(reader.len()) * 2;
    // After the header, hound has consumed exactly up to the first sample.
    let data_start = reader.into_inner().position();
    let data = bytes.get(data_start as usize..).unwrap_or(&[]);
    if (data.len() as u64) < expected {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected,
            actual: data.len() as u64,
        });
    }
    Ok(data[..expected as usize]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect())
}

fn check_spec(path: &Path, spec: hound::WavSpec) -> Result<(), DataError> {
    let detail = if spec.sample_format != hound::SampleFormat::Int {
        Some("its samples are floating point".to_string())
    } else if spec.bits_per_sample != 16 {
        Some(format!("it has {}-bit samples", spec.bits_per_sample))
    } else if spec.channels != 1 {
        Some(format!("it has {} channels", spec.channels))
    } else if spec.sample_rate != SAMPLE_RATE {
        Some(format!("its sample rate is {} Hz", spec.sample_rate))
    } else {
        None
    };
    match detail {
        Some(detail) => Err(DataError::WavFormat {
            path: path.to_path_buf(),
            detail,
        }),
        None => Ok(()),
    }
}
