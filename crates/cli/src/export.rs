//! `milliwatt export`: writes a quantized model in another ONNX form.
//!
//! * `qdq` — QuantizeLinear / DequantizeLinear around float ops (the canonical form `quantize`
//!   writes; re-exporting a QOperator file gives back its integer ops unchanged);
//! * `qoperator` — the integer-engine graph in standard ONNX ops only (QLinearConv, QLinearMatMul,
//!   QuantizeLinear, DequantizeLinear; an average pool becomes a depthwise QLinearConv with unit
//!   weights). Ops ONNX has no integer form of are exported through float and listed.
//!
//! Writes are atomic (temporary file, then rename), as every model write.
use anyhow::{bail, Context, Result};
use mw_ir::Limits;
use serde::Serialize;
use std::path::Path;

/// The ONNX form to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Qdq,
    Qoperator,
}

impl ExportFormat {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "qdq" => Ok(Self::Qdq),
            "qoperator" => Ok(Self::Qoperator),
            other => bail!("unknown export format `{other}` (expected qdq or qoperator)"),
        }
    }
}

/// What `export` wrote.
#[derive(Debug, Serialize)]
pub struct ExportReport {
    pub model: String,
    pub format: ExportFormat,
    pub output: String,
    /// Nodes rewritten into standard integer ops.
    pub converted: Vec<String>,
    /// Nodes exported through float (DequantizeLinear → float op → QuantizeLinear), with why.
    pub through_float: Vec<(String, String)>,
}

impl ExportReport {
    pub fn text(&self) -> String {
        let mut s = format!(
            "wrote {} ({}): {} integer nodes converted",
            self.output,
            match self.format {
                ExportFormat::Qdq => "QDQ",
                ExportFormat::Qoperator => "QOperator, standard ONNX ops only",
            },
            self.converted.len()
        );
        for (node, why) in &self.through_float {
            s.push_str(&format!("\n  through float: {node}: {why}"));
        }
        s
    }
}

/// Reads `model` and writes it to `output` in `format`.
pub fn export_file(
    model: &Path,
    format: ExportFormat,
    output: &Path,
    limits: &Limits,
) -> Result<ExportReport> {
    let graph =
        mw_onnx::load(model, limits).with_context(|| format!("loading `{}`", model.display()))?;
    let (converted, through_float) = match format {
        ExportFormat::Qdq => {
            mw_onnx::save(&graph, output)
                .with_context(|| format!("writing `{}`", output.display()))?;
            (Vec::new(), Vec::new())
        }
        ExportFormat::Qoperator => {
            let report = mw_onnx::save_qoperator(&graph, output)
                .with_context(|| format!("writing `{}`", output.display()))?;
            (report.changed, report.untouched)
        }
    };
    Ok(ExportReport {
        model: model.display().to_string(),
        format,
        output: output.display().to_string(),
        converted,
        through_float,
    })
}
