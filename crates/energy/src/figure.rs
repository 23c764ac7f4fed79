//! A number taken from somewhere: every figure in a hardware profile carries its source, and an
//! estimated figure says how it was derived.
use serde::{Deserialize, Serialize};

/// One cited figure. In TOML: `{ value = 0.2, source = "Horowitz, ISSCC 2014, Fig. 1.1.9" }`, plus
/// `estimated = true, derivation = "..."` when the value is not read directly off the source.
///
/// Contract (checked by [`crate::Profile`] validation): `source` is not empty, `value` is finite
/// and not negative, and an estimated figure has a non-empty `derivation`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    pub value: f64,
    pub source: String,
    #[serde(default)]
    pub estimated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derivation: Option<String>,
}

impl Figure {
    /// A figure read directly off `source`.
    pub fn cited(value: f64, source: &str) -> Figure {
        Figure {
            value,
            source: source.into(),
            estimated: false,
            derivation: None,
        }
    }

    /// A figure derived from `source` as `derivation` says.
    pub fn estimated(value: f64, source: &str, derivation: &str) -> Figure {
        Figure {
            value,
            source: source.into(),
            estimated: true,
            derivation: Some(derivation.into()),
        }
    }

    /// Why this figure is unacceptable, if it is.
    pub(crate) fn problem(&self) -> Option<String> {
        if !self.value.is_finite() || self.value < 0.0 {
            return Some(format!(
                "value {} is not a finite non-negative number",
                self.value
            ));
        }
        if self.source.trim().is_empty() {
            return Some("`source` is empty: every figure must be cited".into());
        }
        if self.estimated
            && self
                .derivation
                .as_deref()
                .is_none_or(|d| d.trim().is_empty())
        {
            return Some(
                "estimated figure without a `derivation` saying how it was derived".into(),
            );
        }
        None
    }
}

/// A cited figure at one bit width (energy of an add or a multiply at `bits`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidthFigure {
    pub bits: u32,
    /// Energy in picojoules.
    pub pj: f64,
    pub source: String,
    #[serde(default)]
    pub estimated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derivation: Option<String>,
}

impl WidthFigure {
    pub(crate) fn figure(&self) -> Figure {
        Figure {
            value: self.pj,
            source: self.source.clone(),
            estimated: self.estimated,
            derivation: self.derivation.clone(),
        }
    }
}
