//! `milliwatt quantize`: post-training quantization of an ONNX model into a QDQ ONNX model
//! (`--scheme w8a8|w8a16|w4a8|w4a16|w2a8|w2a16|w1a8|w1a16`, optionally group-wise), calibrated
//! on a dataset split, with error-compensating weight rounding (`--rounding nearest|gptq|adaround`,
//! `--equalize`, `--bias-correction`) and a per-layer report.
use crate::dataset::{DatasetSpec, SplitArg};
use anyhow::{bail, Context, Result};
use mw_compress::calibrate::Method;
use mw_compress::quantize::{
    try_quantize, ActivationType, OverflowPolicy, QuantizeConfig, QuantizeReport, RangeChoice,
    Scheme, WeightRounding,
};
use mw_ir::Limits;
use std::path::Path;

pub struct QuantizeOptions {
    pub calib: DatasetSpec,
    pub split: SplitArg,
    /// Examples per calibration batch.
    pub batch: usize,
    pub config: QuantizeConfig,
}

/// `w<weight bits>a<activation bits>`: weights of 8, 4, 2 (ternary) or 1 (binary) bits,
/// activations of 8 or 16 bits.
pub fn parse_scheme(s: &str) -> Result<Scheme> {
    Scheme::parse(s).with_context(|| {
        format!(
            "unknown scheme `{s}` (supported: {})",
            Scheme::ALL.join(", ")
        )
    })
}

/// The activation type of `scheme`: `--activations` (int8 or uint8, default int8) for 8-bit
/// activations; int16 for 16-bit ones, where `--activations` may only say int16.
pub fn scheme_activations(scheme: Scheme, activations: Option<&str>) -> Result<ActivationType> {
    match (scheme.activation_bits, activations) {
        (16, None | Some("int16")) => Ok(ActivationType::Int16),
        (16, Some(other)) => bail!(
            "--activations {other} contradicts --scheme {}: 16-bit activations are int16",
            scheme.label()
        ),
        (_, None) => Ok(ActivationType::Int8),
        (_, Some(a)) => parse_activations(a),
    }
}

/// `--group-size`: 1 or more input channels per weight scale.
pub fn parse_group_size(g: Option<usize>) -> Result<Option<usize>> {
    match g {
        Some(0) => bail!("--group-size must be at least 1"),
        other => Ok(other),
    }
}

/// `--rounding nearest|gptq|adaround`; without it, the scheme's default
/// ([`WeightRounding::default_for`]: nearest for 8-bit weights, gptq below).
pub fn parse_rounding(rounding: Option<&str>, scheme: Scheme) -> Result<WeightRounding> {
    match rounding {
        None => Ok(WeightRounding::default_for(scheme.weights)),
        Some(r) => WeightRounding::parse(r)
            .with_context(|| format!("unknown rounding `{r}` (nearest, gptq, adaround)")),
    }
}

/// `minmax`, `percentile`, `entropy`, `mse` or `auto`; `percentile` is the percent of values kept
/// by `percentile` (and tried by `auto`).
pub fn parse_calibration(name: &str, percentile: f64) -> Result<RangeChoice> {
    if !(0.0..=100.0).contains(&percentile) {
        bail!("--percentile {percentile} is outside [0, 100]");
    }
    Ok(match name {
        "minmax" => RangeChoice::Method(Method::MinMax),
        "percentile" => RangeChoice::Method(Method::Percentile(percentile)),
        "entropy" => RangeChoice::Method(Method::Entropy),
        "mse" => RangeChoice::Method(Method::Mse),
        "auto" => RangeChoice::auto(percentile),
        other => bail!("unknown calibration `{other}` (minmax, percentile, entropy, mse, auto)"),
    })
}

pub fn parse_activations(s: &str) -> Result<ActivationType> {
    match s {
        "int8" => Ok(ActivationType::Int8),
        "uint8" => Ok(ActivationType::UInt8),
        other => bail!("unknown activation type `{other}` (int8, uint8)"),
    }
}

pub fn parse_overflow(s: &str) -> Result<OverflowPolicy> {
    match s {
        "keep-float" => Ok(OverflowPolicy::KeepFloat),
        "refuse" => Ok(OverflowPolicy::Refuse),
        other => bail!("unknown overflow policy `{other}` (keep-float, refuse)"),
    }
}

/// Quantizes `model`, writes the QDQ model to `output` (atomically) and returns the report.
/// Calibration must not see the clips accuracy is measured on: the eval split is refused, and for
/// Speech Commands so is `all` (which contains it).
pub fn quantize_file(
    model: &Path,
    output: &Path,
    options: &QuantizeOptions,
    limits: &Limits,
) -> Result<QuantizeReport> {
    if options.split == SplitArg::Eval {
        bail!("--calib-split eval is refused: the eval split is reserved for measuring accuracy");
    }
    if matches!(options.calib, DatasetSpec::SpeechCommands(_))
        && options.split != SplitArg::Calibration
    {
        bail!(
            "--calib-split {} is refused for speech-commands: it contains the eval split, which \
             is reserved for measuring accuracy; use --calib-split calibration",
            options.split
        );
    }
    let graph =
        mw_onnx::load(model, limits).with_context(|| format!("loading `{}`", model.display()))?;
    let examples = options.calib.open(options.split)?;
    if examples.is_empty() {
        bail!("the calibration split `{}` has no examples", options.split);
    }
    let n = examples.len();
    let step = options.batch.max(1);
    let batches = (0..n)
        .step_by(step)
        .map(|start| examples.batch(start..(start + step).min(n)));
    let config = QuantizeConfig {
        limits: *limits,
        ..options.config.clone()
    };
    let (qdq, report) = try_quantize(graph, batches, &config)
        .with_context(|| format!("quantizing `{}`", model.display()))?;
    mw_onnx::save(&qdq, output).with_context(|| format!("writing `{}`", output.display()))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_parsing() {
        assert!(parse_scheme("w8a8").is_ok());
        let w4a16 = parse_scheme("w4a16").unwrap();
        assert_eq!(w4a16.activation_bits, 16);
        assert!(parse_scheme("w3a8").is_err());
        assert_eq!(
            scheme_activations(w4a16, None).unwrap(),
            ActivationType::Int16
        );
        assert!(scheme_activations(w4a16, Some("uint8")).is_err());
        let w4a8 = parse_scheme("w4a8").unwrap();
        assert_eq!(
            scheme_activations(w4a8, Some("uint8")).unwrap(),
            ActivationType::UInt8
        );
        assert_eq!(
            scheme_activations(w4a8, None).unwrap(),
            ActivationType::Int8
        );
        assert!(parse_group_size(Some(0)).is_err());
        let w8a8 = parse_scheme("w8a8").unwrap();
        assert_eq!(parse_rounding(None, w8a8).unwrap(), WeightRounding::Nearest);
        assert_eq!(parse_rounding(None, w4a8).unwrap(), WeightRounding::Gptq);
        assert_eq!(
            parse_rounding(Some("adaround"), w8a8).unwrap(),
            WeightRounding::AdaRound
        );
        assert_eq!(
            parse_rounding(Some("nearest"), w4a8).unwrap(),
            WeightRounding::Nearest
        );
        assert!(parse_rounding(Some("stochastic"), w4a8).is_err());
        assert_eq!(
            parse_calibration("percentile", 99.9).unwrap(),
            RangeChoice::Method(Method::Percentile(99.9))
        );
        assert_eq!(
            parse_calibration("auto", 99.99).unwrap(),
            RangeChoice::auto(99.99)
        );
        assert!(parse_calibration("kl", 99.99).is_err());
        assert!(parse_calibration("minmax", 101.0).is_err());
        assert_eq!(parse_activations("uint8").unwrap(), ActivationType::UInt8);
        assert_eq!(parse_overflow("refuse").unwrap(), OverflowPolicy::Refuse);
        assert!(parse_overflow("ignore").is_err());
    }
}
