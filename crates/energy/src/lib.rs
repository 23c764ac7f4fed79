//! Energy, latency and power of a model as it is stored, on a described piece of hardware.
//!
//! * [`Profile`]: a device in TOML (built-ins `horowitz-45nm`, `ndp120`, `cortex-m4`,
//!   `phone-soc` in `profiles/`, or any file via [`Profile::resolve`] / [`Profile::from_toml_file`]):
//!   energy per add and multiply by precision, a memory hierarchy (register file, local buffer,
//!   SRAM, backing DRAM or flash), a MAC array with its dataflow, clocks, static and idle power,
//!   the ops each unit runs, transfer costs between units. Every figure carries its source; an
//!   estimated one says how it was derived.
//! * [`ModelWorkload::from_graph`]: per-layer work of an [`mw_ir::Graph`] at its real bit widths
//!   (float, QDQ or lowered integer), weights as stored (bits, zeros), activation traffic.
//! * [`evaluate`]: places layers on units, tiles them under the unit's dataflow, decides SRAM
//!   residency, and returns an [`EnergyReport`] (energy per inference split into compute / memory
//!   levels / transfers / overhead / static, latency, average power at a rate, budget verdict,
//!   per-layer rows, fallbacks). Formulas: `model::layer` and `model::dataflow` docs.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let graph = mw_onnx::load(std::path::Path::new("model.onnx"), &Default::default())?;
//! let workload = mw_energy::ModelWorkload::from_graph(&graph)?;
//! let profile = mw_energy::Profile::resolve("ndp120")?;
//! let options = mw_energy::Options { rate_hz: Some(10.0), budget_mw: Some(10.0), ..Default::default() };
//! let report = mw_energy::evaluate(&workload, &profile, &options)?;
//! println!("{}", report.table());
//! # Ok(()) }
//! ```
mod figure;
pub mod model;
mod precision;
pub mod profile;
pub mod report;
pub mod workload;

pub use figure::{Figure, WidthFigure};
pub use model::{average_power_mw, evaluate, Options, ResidencyPolicy};
pub use precision::Precision;
pub use profile::{Profile, ProfileError};
pub use report::{
    EnergyReport, EnergySplit, Fallback, LayerReport, Residency, Traffic, Verdict, WeightHome,
};
pub use workload::{ActivationInput, GemmShape, LayerWorkload, ModelWorkload, WeightTensor};

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum EnergyError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Graph(#[from] mw_ir::IrError),
    #[error("layer `{layer}` runs on no unit of the profile: {reason}")]
    Unplaceable { layer: String, reason: String },
    #[error("{0}")]
    Options(String),
}

/// Parses a rate such as `10/s`, `10`, `0.5/s` or `600/min` into inferences per second.
pub fn parse_rate(s: &str) -> Result<f64, EnergyError> {
    let t = s.trim();
    let (num, per) = match t.split_once('/') {
        Some((n, unit)) => (n.trim(), unit.trim()),
        None => (t, "s"),
    };
    let div = match per {
        "s" | "sec" => 1.0,
        "min" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(EnergyError::Options(format!(
                "rate `{s}`: use N/s, N/min or N/h"
            )))
        }
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v / div),
        _ => Err(EnergyError::Options(format!(
            "rate `{s}` is not a positive number per time"
        ))),
    }
}

/// Parses a power such as `10mW`, `500uW`, `500µW`, `0.01W` or `10` (mW) into milliwatts.
pub fn parse_power(s: &str) -> Result<f64, EnergyError> {
    let t = s.trim();
    let split =
        t.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-' || c == '+'));
    let (num, unit) = match split {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, "mW"),
    };
    let scale = match unit {
        "mW" | "mw" => 1.0,
        "uW" | "µW" | "uw" => 1e-3,
        "W" | "w" => 1e3,
        _ => {
            return Err(EnergyError::Options(format!(
                "power `{s}`: use mW, uW or W"
            )))
        }
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v * scale),
        _ => Err(EnergyError::Options(format!(
            "power `{s}` is not a positive number"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates_and_powers() {
        assert_eq!(parse_rate("10/s").unwrap(), 10.0);
        assert_eq!(parse_rate("600/min").unwrap(), 10.0);
        assert_eq!(parse_rate("5").unwrap(), 5.0);
        assert!(
            parse_rate("-1/s").is_err()
                && parse_rate("x/s").is_err()
                && parse_rate("1/day").is_err()
        );
        assert_eq!(parse_power("10mW").unwrap(), 10.0);
        assert_eq!(parse_power("500uW").unwrap(), 0.5);
        assert_eq!(parse_power("0.01W").unwrap(), 10.0);
        assert!(parse_power("0mW").is_err() && parse_power("10 kW").is_err());
    }
}
