//! Data sets and file formats for milliwatt: WAV clips, the MLPerf Tiny keyword-spotting MFCC
//! front end, the Speech Commands test set with its calibration / evaluation split, IDX
//! (MNIST, Fashion-MNIST) and NumPy `.npy` files. Every failure is a [`DataError`] naming its
//! file; untrusted headers never cause allocations beyond the data actually present.

mod error;
pub mod idx;
pub mod mfcc;
pub mod npy;
pub mod speech_commands;
pub mod wav;

use std::path::Path;

use mw_tensor::{Data, Tensor};

pub use error::DataError;
pub use idx::{read_idx, read_idx_images, read_idx_labels};
pub use mfcc::MfccFrontEnd;
pub use npy::{read_npy, write_npy};
pub use speech_commands::{Clip, SpeechCommands, Split, LABELS};
pub use wav::read_wav;

/// Checks that a float tensor read from `origin` holds no NaN or infinity; integer and bool
/// tensors always pass. The error names `origin` and the first offending element.
pub fn check_finite(tensor: &Tensor, origin: &Path) -> Result<(), DataError> {
    let bad = match tensor.data() {
        Data::F32(v) => v
            .iter()
            .position(|x| !x.is_finite())
            .map(|i| (i, f64::from(v[i]))),
        Data::F64(v) => v.iter().position(|x| !x.is_finite()).map(|i| (i, v[i])),
        _ => None,
    };
    match bad {
        Some((index, value)) => Err(DataError::NonFinite {
            path: origin.to_path_buf(),
            index,
            value,
        }),
        None => Ok(()),
    }
}
