//! `milliwatt quantize`: post-training quantization of an ONNX model into a QDQ ONNX model
//! (`--scheme w8a8|w8a16|w4a8|w4a16|w2a8|w2a16|w1a8|w1a16`, optionally group-wise), calibrated
//! on a dataset split, with error-compensating weight rounding (`--rounding nearest|gptq|adaround`,
//! `--equalize`, `--bias-correction`) and a per-layer report; `--scheme mixed` searches per-layer
//! formats within a weight-byte or energy budget (`mw_compress::mixed`).
use crate::dataset::{DatasetSpec, SplitArg};
use anyhow::{bail, Context, Result};
use mw_compress::calibrate::Method;
use mw_compress::mixed::{self, Budget, Holdout, MixedConfig, MixedReport};
use mw_compress::quantize::{
    try_quantize, ActivationType, OverflowPolicy, QuantizeConfig, QuantizeReport, RangeChoice,
    Scheme, WeightRounding,
};
use mw_ir::Limits;
use mw_tensor::Tensor;
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
    check_split(options)?;
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

fn check_split(options: &QuantizeOptions) -> Result<()> {
    if options.split == SplitArg::Eval {
        bail!("--calib-split eval is refused: the eval split is reserved for measuring accuracy");
    }
    if options.split != SplitArg::Calibration {
        bail!(
            "--calib-split {} is refused for {}: it contains the eval split, which is reserved \
             for measuring accuracy; use --calib-split calibration",
            options.split,
            options.calib
        );
    }
    Ok(())
}

/// Energy per inference in µJ from `0.4uJ`, `0.4µJ`, `400nJ`, `400000pJ`, `0.0004mJ` or `4e-7J`
/// (a bare number is µJ).
pub fn parse_energy(s: &str) -> Result<f64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+')))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .with_context(|| format!("`{s}` is not an energy"))?;
    let scale = match unit.trim() {
        "" | "uJ" | "µJ" | "uj" => 1.0,
        "pJ" | "pj" => 1e-6,
        "nJ" | "nj" => 1e-3,
        "mJ" | "mj" => 1e3,
        "J" | "j" => 1e6,
        other => bail!("unknown energy unit `{other}` in `{s}` (pJ, nJ, uJ, µJ, mJ, J)"),
    };
    let uj = value * scale;
    if !(uj.is_finite() && uj > 0.0) {
        bail!("energy `{s}` must be positive");
    }
    Ok(uj)
}

/// What `--scheme mixed` needs besides the quantize options.
pub struct MixedOptions {
    pub budget: Budget,
    /// Hardware profile name or TOML file (energy of every point; needed for an energy budget).
    pub hw: String,
    /// Every `holdout_every`-th calibration example is held out for the accuracy proxy; the
    /// others calibrate.
    pub holdout_every: usize,
}

/// The budget from `--weight-budget` (bytes: `12KiB`, `13000B`) or `--energy-budget`
/// (`0.4uJ`, `400nJ`): exactly one of them.
pub fn parse_budget(weight: Option<&str>, energy: Option<&str>) -> Result<Budget> {
    match (weight, energy) {
        (Some(w), None) => Ok(Budget::WeightBytes(
            crate::size::parse_bytes(w)
                .map_err(anyhow::Error::msg)
                .context("--weight-budget")? as f64,
        )),
        (None, Some(e)) => Ok(Budget::EnergyUj(
            parse_energy(e).context("--energy-budget")?,
        )),
        _ => bail!("--scheme mixed needs exactly one of --weight-budget and --energy-budget"),
    }
}

/// `--scheme mixed`: searches per-layer formats within the budget, writes the chosen model to
/// `output` and returns the report. With no configuration within the budget, no model is
/// written; the report (with the lowest reachable cost) still comes back, as `Ok((report,
/// false))`.
pub fn mixed_file(
    model: &Path,
    output: &Path,
    options: &QuantizeOptions,
    mixed_options: &MixedOptions,
    limits: &Limits,
) -> Result<(MixedReport, bool)> {
    check_split(options)?;
    if mixed_options.holdout_every < 2 {
        bail!("--holdout-every must be at least 2");
    }
    let profile = crate::energy::load_profile(&mixed_options.hw)?;
    let graph =
        mw_onnx::load(model, limits).with_context(|| format!("loading `{}`", model.display()))?;
    let examples = options.calib.open(options.split)?;
    let k = mixed_options.holdout_every;
    let (held, calib): (Vec<usize>, Vec<usize>) = (0..examples.len()).partition(|i| i % k == k - 1);
    if held.is_empty() || calib.is_empty() {
        bail!(
            "the calibration split has {} examples: too few to hold out every {k}th",
            examples.len()
        );
    }
    let step = options.batch.max(1);
    let calib_batches = gather(&examples, &calib, step)?;
    let held_batches = gather(&examples, &held, step)?;
    let labels = held.iter().map(|&i| examples.targets()[i]).collect();
    let holdout = Holdout::new(&graph, held_batches, Some(labels), *limits)
        .context("running the float model on the held-out calibration examples")?;
    let config = MixedConfig {
        base: QuantizeConfig {
            limits: *limits,
            ..options.config.clone()
        },
        candidates: MixedConfig::all_candidates(),
        budget: mixed_options.budget,
        profile: Some(profile),
        spread: 12,
        near_budget: 4,
    };
    let (chosen, report) = mixed::search(&graph, &calib_batches, &holdout, &config)
        .with_context(|| format!("mixed-precision search on `{}`", model.display()))?;
    let Some(g) = chosen else {
        return Ok((report, false));
    };
    mw_onnx::save(&g, output).with_context(|| format!("writing `{}`", output.display()))?;
    Ok((report, true))
}

/// Examples `indices` in batches of `step`, concatenated along axis 0.
fn gather(
    examples: &crate::dataset::Examples,
    indices: &[usize],
    step: usize,
) -> Result<Vec<Tensor>> {
    let mut out = Vec::new();
    for chunk in indices.chunks(step) {
        let mut data: Vec<f32> = Vec::new();
        let mut shape = Vec::new();
        for &i in chunk {
            let t = examples.batch(i..i + 1)?;
            shape = t.shape().to_vec();
            data.extend_from_slice(t.as_slice::<f32>()?);
        }
        shape[0] = chunk.len();
        out.push(Tensor::from_vec(shape, data)?);
    }
    Ok(out)
}

/// The chosen layers, the budget and the size of the explored fronts, as text.
pub fn mixed_table(r: &MixedReport) -> String {
    let mut s = format!(
        "mixed precision, budget {}, profile {}\n",
        budget_text(r.budget),
        r.profile.as_deref().unwrap_or("-")
    );
    s.push_str(&format!(
        "calibration {} examples, proxy on {} held-out calibration examples\n",
        r.calibration_examples, r.holdout_examples
    ));
    s.push_str(&format!(
        "explored: bytes front {} points, energy front {} points, {} assembled\n",
        r.bytes_front.len(),
        r.energy_front.len(),
        r.evaluated.len()
    ));
    let row = |name: &str, e: &mixed::Evaluated| {
        format!(
            "{name:<8} {:>9.0} B {:>8.3} uJ  KL {:.4}  agree {:.3}  held-out top-1 {}\n",
            e.weight_bytes,
            e.energy_uj.unwrap_or(f64::NAN),
            e.score.kl,
            e.score.agreement,
            e.score.top1.map_or("-".into(), |t| format!("{t:.3}"))
        )
    };
    s.push_str(&row("base", &r.base));
    match &r.chosen {
        Some(c) => {
            s.push_str(&row("chosen", c));
            for node in &r.layers {
                s.push_str(&format!("  {node:<40} {}\n", c.layers[node]));
            }
        }
        None => s.push_str(&format!(
            "no configuration within the budget; lowest reachable {}\n",
            match r.budget {
                Budget::WeightBytes(_) => format!("{:.0} B", r.lowest_reachable),
                Budget::EnergyUj(_) => format!("{:.3} uJ", r.lowest_reachable),
            }
        )),
    }
    s
}

pub fn budget_text(b: Budget) -> String {
    match b {
        Budget::WeightBytes(v) => format!("{v:.0} weight bytes"),
        Budget::EnergyUj(v) => format!("{v:.3} uJ per inference"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn energy_and_budget_parsing() {
        assert!((parse_energy("0.4uJ").unwrap() - 0.4).abs() < 1e-12);
        assert!((parse_energy("400nJ").unwrap() - 0.4).abs() < 1e-12);
        assert!((parse_energy("0.4µJ").unwrap() - 0.4).abs() < 1e-12);
        assert!((parse_energy("4e-7J").unwrap() - 0.4).abs() < 1e-9);
        assert!(parse_energy("0.4 parsecs").is_err());
        assert!(parse_energy("-1uJ").is_err());
        assert!(parse_energy("0nJ").is_err());
        assert_eq!(
            parse_budget(Some("12KiB"), None).unwrap(),
            Budget::WeightBytes(12288.0)
        );
        assert_eq!(
            parse_budget(Some("13000B"), None).unwrap(),
            Budget::WeightBytes(13000.0)
        );
        assert!(parse_budget(Some("1KiB"), Some("1uJ")).is_err());
        assert!(parse_budget(None, None).is_err());
    }

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
