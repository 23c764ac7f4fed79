//! `milliwatt energy`: energy, latency and power of a model on a hardware profile, with accuracy
//! per millijoule when an eval report (`milliwatt eval --report`) is given.
use anyhow::{bail, Context, Result};
use mw_energy::{evaluate, EnergyReport, ModelWorkload, Options, Profile};
use mw_ir::Limits;
use serde::Serialize;
use std::path::Path;

/// What an eval report contributes: top-1 accuracy and per-class accuracy.
#[derive(Clone, Debug, Serialize)]
pub struct EvalSummary {
    pub model: String,
    pub top1: f64,
    /// `(label, accuracy, total)` per class.
    pub per_class: Vec<(String, f64, u64)>,
}

/// The energy report plus accuracy fields, flattened into one JSON object.
#[derive(Debug, Serialize)]
pub struct EnergyOutput {
    pub model: String,
    #[serde(flatten)]
    pub report: EnergyReport,
    pub accuracy_top1: Option<f64>,
    pub accuracy_per_mj: Option<f64>,
}

impl EnergyOutput {
    pub fn text(&self) -> String {
        let mut s = format!("model {}\n{}", self.model, self.report.table());
        if let (Some(a), Some(per)) = (self.accuracy_top1, self.accuracy_per_mj) {
            s.push_str(&format!(
                "accuracy {:.2} % → {:.3} accuracy per mJ\n",
                100.0 * a,
                per
            ));
        }
        s
    }
}

/// Reads the fields the energy and report commands use from `milliwatt eval --report` JSON.
pub fn read_eval(path: &Path) -> Result<EvalSummary> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading eval report `{}`", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("parsing eval report `{}`", path.display()))?;
    let Some(top1) = v.get("top1").and_then(|t| t.as_f64()) else {
        bail!("eval report `{}` has no numeric `top1`", path.display());
    };
    if !(0.0..=1.0).contains(&top1) {
        bail!(
            "eval report `{}`: `top1` {top1} is not a fraction",
            path.display()
        );
    }
    let per_class = v
        .get("per_class")
        .and_then(|p| p.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    Some((
                        c.get("label")?.as_str()?.to_string(),
                        c.get("accuracy")?.as_f64()?,
                        c.get("total").and_then(|t| t.as_u64()).unwrap_or(0),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let model = v
        .get("model")
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_string();
    Ok(EvalSummary {
        model,
        top1,
        per_class,
    })
}

/// Loads a model and extracts its workload.
pub fn load_workload(model: &Path, limits: &Limits) -> Result<ModelWorkload> {
    let graph =
        mw_onnx::load(model, limits).with_context(|| format!("loading `{}`", model.display()))?;
    ModelWorkload::from_graph(&graph)
        .with_context(|| format!("extracting the workload of `{}`", model.display()))
}

/// Resolves `--hw` (a built-in name or a TOML file), naming the argument in the error.
pub fn load_profile(hw: &str) -> Result<Profile> {
    Profile::resolve(hw).with_context(|| format!("hardware profile `{hw}`"))
}

/// Parses `--rate` and `--budget`.
pub fn options(rate: Option<&str>, budget: Option<&str>) -> Result<Options> {
    let rate_hz = rate
        .map(mw_energy::parse_rate)
        .transpose()
        .context("--rate")?;
    let budget_mw = budget
        .map(mw_energy::parse_power)
        .transpose()
        .context("--budget")?;
    if budget_mw.is_some() && rate_hz.is_none() {
        bail!("--budget needs --rate (power is averaged over the inference rate)");
    }
    Ok(Options {
        rate_hz,
        budget_mw,
        ..Default::default()
    })
}

/// `milliwatt energy`.
pub fn energy_file(
    model: &Path,
    hw: &str,
    options: &Options,
    accuracy_from: Option<&Path>,
    limits: &Limits,
) -> Result<EnergyOutput> {
    let profile = load_profile(hw)?;
    let eval = accuracy_from.map(read_eval).transpose()?;
    let workload = load_workload(model, limits)?;
    let report = evaluate(&workload, &profile, options)
        .with_context(|| format!("evaluating `{}` on `{hw}`", model.display()))?;
    let accuracy_top1 = eval.map(|e| e.top1);
    Ok(EnergyOutput {
        model: model.display().to_string(),
        accuracy_per_mj: accuracy_top1.map(|a| report.per_mj(a)),
        accuracy_top1,
        report,
    })
}
