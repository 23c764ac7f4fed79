//! `auto` method selection: the candidate range with the lowest caller-measured error.
use serde::Serialize;

use super::{CalibError, Method, Observer, QScheme};

/// One method tried by [`select_auto`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Candidate {
    pub method: Method,
    pub range: (f32, f32),
    /// The callback's error for `range` (lower is better).
    pub error: f64,
}

/// Every candidate tried, and which won.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AutoChoice {
    /// Index of the winner in `candidates`.
    pub best: usize,
    pub candidates: Vec<Candidate>,
}

impl AutoChoice {
    pub fn winner(&self) -> &Candidate {
        &self.candidates[self.best]
    }
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum AutoError<E> {
    #[error(transparent)]
    Calib(#[from] CalibError),
    #[error("the error callback failed: {0}")]
    Callback(E),
}

/// Computes each method's range on `observer` for `scheme`, asks `error(method, range)` for a
/// metric (lower is better; e.g. the negated output SQNR of the layer quantized with that range)
/// and returns the candidate with the lowest one.
///
/// NaN errors rank last; ties go to the earliest method in `methods`. A range equal to an earlier
/// candidate's reuses its error instead of calling back again. The first range or callback failure
/// aborts the selection.
pub fn select_auto<O, F, E>(
    observer: &O,
    scheme: QScheme,
    methods: &[Method],
    mut error: F,
) -> Result<AutoChoice, AutoError<E>>
where
    O: Observer + ?Sized,
    F: FnMut(Method, (f32, f32)) -> Result<f64, E>,
{
    if methods.is_empty() {
        return Err(CalibError::NoCandidates.into());
    }
    let mut candidates: Vec<Candidate> = Vec::with_capacity(methods.len());
    for &method in methods {
        let range = observer.range(method, scheme)?;
        let known = candidates
            .iter()
            .find(|c| c.range == range)
            .map(|c| c.error);
        let err = match known {
            Some(e) => e,
            None => error(method, range).map_err(AutoError::Callback)?,
        };
        candidates.push(Candidate {
            method,
            range,
            error: err,
        });
    }
    let rank = |e: f64| if e.is_nan() { f64::INFINITY } else { e };
    let mut best = 0;
    for (i, c) in candidates.iter().enumerate() {
        if rank(c.error) < rank(candidates[best].error) {
            best = i;
        }
    }
    Ok(AutoChoice { best, candidates })
}
