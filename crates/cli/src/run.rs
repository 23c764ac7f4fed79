//! `milliwatt run`: one model on .npy inputs.
use anyhow::{bail, Context, Result};
use mw_exec::Plan;
use mw_ir::Limits;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Serialize)]
pub struct OutputSummary {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    /// First elements, for a glance.
    pub head: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub model: String,
    pub outputs: Vec<OutputSummary>,
    pub written: Option<PathBuf>,
}

pub fn run_file(
    model: &Path,
    inputs: &[PathBuf],
    output: Option<&Path>,
    limits: &Limits,
) -> Result<RunSummary> {
    let graph =
        mw_onnx::load(model, limits).with_context(|| format!("loading `{}`", model.display()))?;
    let tensors = inputs
        .iter()
        .map(|p| {
            let t = mw_data::read_npy(p)?;
            mw_data::check_finite(&t, p)?;
            Ok(t)
        })
        .collect::<Result<Vec<_>, mw_data::DataError>>()?;
    let names: Vec<String> = graph
        .outputs
        .iter()
        .map(|o| graph.value(*o).name.clone())
        .collect();
    let plan = Plan::new(graph, *limits)?;
    let outs = plan.run(tensors)?;
    let Some(first) = outs.first() else {
        bail!("the model has no outputs");
    };
    if let Some(path) = output {
        mw_data::write_npy(path, first)?;
    }
    Ok(RunSummary {
        model: model.display().to_string(),
        outputs: names
            .into_iter()
            .zip(&outs)
            .map(|(name, t)| OutputSummary {
                name,
                dtype: t.dtype().to_string(),
                shape: t.shape().to_vec(),
                head: t.to_f64_vec().into_iter().take(16).collect(),
            })
            .collect(),
        written: output.map(Path::to_path_buf),
    })
}

impl RunSummary {
    pub fn text(&self) -> String {
        let mut s = String::new();
        for o in &self.outputs {
            s.push_str(&format!(
                "{} {} {:?}: {:?}\n",
                o.name, o.dtype, o.shape, o.head
            ));
        }
        if let Some(p) = &self.written {
            s.push_str(&format!("wrote {}\n", p.display()));
        }
        s
    }
}
