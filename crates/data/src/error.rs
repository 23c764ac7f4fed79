use std::path::PathBuf;

/// Every failure of this crate. Each variant names the file (or folder) it concerns.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The WAV container could not be parsed or its samples could not be read.
    #[error("{path}: unreadable WAV: {source}")]
    Wav {
        path: PathBuf,
        #[source]
        source: hound::Error,
    },
    /// A readable WAV that is not 16 kHz mono 16-bit integer PCM.
    #[error("{path}: WAV must be 16 kHz mono 16-bit integer PCM, but {detail}")]
    WavFormat { path: PathBuf, detail: String },
    /// The file ends before the data its header announces.
    #[error("{path}: truncated: header announces {expected} bytes of data, file holds {actual}")]
    Truncated {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    /// A malformed header or body of an `.npy` or IDX file.
    #[error("{path}: malformed {format} file: {detail}")]
    Malformed {
        path: PathBuf,
        format: &'static str,
        detail: String,
    },
    /// A well-formed file using a feature this crate does not read.
    #[error("{path}: unsupported {format} content: {detail}")]
    Unsupported {
        path: PathBuf,
        format: &'static str,
        detail: String,
    },
    /// A header announcing more data than the reader's cap allows.
    #[error("{path}: {what} of {bytes} bytes exceeds the cap of {cap} bytes")]
    TooLarge {
        path: PathBuf,
        what: &'static str,
        bytes: u64,
        cap: u64,
    },
    /// A tensor that must hold finite values holds NaN or ±inf.
    #[error("{path}: element {index} is {value}, finite values are required")]
    NonFinite {
        path: PathBuf,
        index: usize,
        value: f64,
    },
    /// A tensor of the wrong element type or shape for its use.
    #[error("{path}: {detail}")]
    Tensor { path: PathBuf, detail: String },
    /// A data set folder that does not have the expected layout.
    #[error("{path}: not a usable data set folder: {detail}")]
    Dataset { path: PathBuf, detail: String },
}

impl DataError {
    /// The file or folder the error concerns.
    pub fn path(&self) -> &std::path::Path {
        match self {
            DataError::Io { path, .. }
            | DataError::Wav { path, .. }
            | DataError::WavFormat { path, .. }
            | DataError::Truncated { path, .. }
            | DataError::Malformed { path, .. }
            | DataError::Unsupported { path, .. }
            | DataError::TooLarge { path, .. }
            | DataError::NonFinite { path, .. }
            | DataError::Tensor { path, .. }
            | DataError::Dataset { path, .. } => path,
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> DataError {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
