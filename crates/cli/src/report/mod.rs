//! `milliwatt report`: one self-contained HTML page (inline SVG, no external resources) comparing
//! model variants on hardware profiles: the headline figures, power against a budget, accuracy
//! versus energy, the explored fronts and chosen per-layer formats of mixed-precision searches,
//! per-layer energy split, memory residency, precisions, fallbacks, per-class accuracy. Every plot is also written as a PNG file in `<page stem>_files/` beside the page.
pub mod charts;
pub mod front_chart;
mod mixed;
mod raster;
pub mod search;
mod sections;
pub mod text;

use crate::energy::{load_profile, load_workload, read_eval, EvalSummary};
use anyhow::{bail, Context, Result};
use charts::Chart;
use mw_energy::{evaluate, EnergyReport, Options, ResidencyPolicy};
use mw_ir::Limits;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use text::{esc, num};

/// One model variant with its evaluation (if any) and its reports on each profile.
pub struct Variant {
    pub name: String,
    /// The precision doing most of the MACs (e.g. `fp32`, `int8`).
    pub precision: String,
    pub eval: Option<EvalSummary>,
    /// One per profile, in profile order.
    pub reports: Vec<EnergyReport>,
    /// Per profile: µJ per inference with every weight in SRAM, and read from DRAM at every fetch.
    pub sram_dram_uj: Vec<(f64, f64)>,
}

impl Variant {
    /// `name (precision)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.precision)
    }
}

pub struct ReportData {
    pub profiles: Vec<String>,
    pub variants: Vec<Variant>,
    pub options: Options,
    /// Mixed-precision search reports (`--search`), each matching some variant's layers.
    pub searches: Vec<search::Search>,
}

/// A rendered page: the HTML and the plots it shows, each with its PNG file name.
pub struct Page {
    pub html: String,
    pub plots: Vec<(String, Chart)>,
}

/// Evaluates every model on every profile. Evals pair with models by position when their counts
/// are equal, otherwise by the file name recorded in the eval report. Each search report must
/// name layers one of the models has.
pub fn collect(
    models: &[PathBuf],
    hws: &[String],
    evals: &[PathBuf],
    searches: &[PathBuf],
    options: &Options,
    limits: &Limits,
) -> Result<ReportData> {
    if models.is_empty() || hws.is_empty() {
        bail!("report needs at least one model and one --hw");
    }
    let profiles = hws
        .iter()
        .map(|h| load_profile(h))
        .collect::<Result<Vec<_>>>()?;
    let evals = evals
        .iter()
        .map(|p| read_eval(p))
        .collect::<Result<Vec<_>>>()?;
    let searches = searches
        .iter()
        .map(|p| search::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let with = |residency| Options {
        residency,
        ..options.clone()
    };
    let mut variants = Vec::new();
    for (i, model) in models.iter().enumerate() {
        let workload = load_workload(model, limits)?;
        let mut reports = Vec::new();
        let mut sram_dram_uj = Vec::new();
        for (p, h) in profiles.iter().zip(hws) {
            let run = |o: &Options| {
                evaluate(&workload, p, o)
                    .with_context(|| format!("evaluating `{}` on `{h}`", model.display()))
            };
            reports.push(run(options)?);
            sram_dram_uj.push((
                run(&with(ResidencyPolicy::Sram))?.energy_per_inference_uj,
                run(&with(ResidencyPolicy::Dram))?.energy_per_inference_uj,
            ));
        }
        let eval = if evals.len() == models.len() {
            Some(evals[i].clone())
        } else {
            evals
                .iter()
                .find(|e| Path::new(&e.model).file_name() == model.file_name())
                .cloned()
        };
        variants.push(Variant {
            name: stem(model),
            precision: main_precision(&reports[0]),
            eval,
            reports,
            sram_dram_uj,
        });
    }
    let layer_names: Vec<Vec<String>> = variants
        .iter()
        .map(|v| v.reports[0].layers.iter().map(|l| l.name.clone()).collect())
        .collect();
    for s in &searches {
        search::check_models(s, &layer_names)?;
    }
    Ok(ReportData {
        profiles: profiles.iter().map(|p| p.name.clone()).collect(),
        variants,
        options: options.clone(),
        searches,
    })
}

/// What `report_files` wrote: the page, then each PNG.
pub struct Written {
    pub html: PathBuf,
    pub pngs: Vec<PathBuf>,
}

/// Collects, renders and writes the PNGs (each atomically) into `<out stem>_files/`, then the
/// page (atomically) at `out`.
pub fn report_files(
    models: &[PathBuf],
    hws: &[String],
    evals: &[PathBuf],
    searches: &[PathBuf],
    options: &Options,
    out: &Path,
    limits: &Limits,
) -> Result<Written> {
    let data = collect(models, hws, evals, searches, options, limits)?;
    let dir_name = files_dir_name(out);
    let page = render(&data, &dir_name)?;
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(&dir_name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating `{}`", dir.display()))?;
    let mut pngs = Vec::new();
    for (file, chart) in &page.plots {
        let path = dir.join(file);
        crate::output::write_atomic(&path, &chart.png()?)?;
        pngs.push(path);
    }
    crate::output::write_atomic(out, page.html.as_bytes())?;
    Ok(Written {
        html: out.to_path_buf(),
        pngs,
    })
}

/// `report.html` → `report_files`.
pub fn files_dir_name(out: &Path) -> String {
    format!("{}_files", text::slug(&stem(out)))
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// The precision of the layers doing most of the MACs.
fn main_precision(r: &EnergyReport) -> String {
    let mut by: Vec<(String, u64)> = Vec::new();
    for l in &r.layers {
        match by.iter_mut().find(|(p, _)| *p == l.precision) {
            Some((_, m)) => *m += l.macs,
            None => by.push((l.precision.clone(), l.macs)),
        }
    }
    by.into_iter()
        .max_by_key(|(_, m)| *m)
        .map(|(p, _)| p)
        .unwrap_or_else(|| "-".into())
}

/// The whole HTML page; plots link to their PNGs in `files_dir`.
pub fn render(d: &ReportData, files_dir: &str) -> Result<Page> {
    let mut page = Page {
        html: String::from(HEAD),
        plots: Vec::new(),
    };
    let h = &mut page.html;
    let _ = write!(
        h,
        "<h1>milliwatt energy report</h1><p>Models: {}. Profiles: {}.{}{} PNG versions of the plots are in <code>{}/</code>.</p>",
        esc(&d
            .variants
            .iter()
            .map(Variant::label)
            .collect::<Vec<_>>()
            .join(", ")),
        esc(&d.profiles.join(", ")),
        d.options
            .rate_hz
            .map(|r| format!(" Rate {} inferences/s.", num(r)))
            .unwrap_or_default(),
        d.options
            .budget_mw
            .map(|b| format!(" Budget {} mW.", num(b)))
            .unwrap_or_default(),
        esc(files_dir)
    );
    sections::key_figures(&mut page, d);
    sections::summary(&mut page, d);
    sections::power(&mut page, d, files_dir)?;
    sections::scatter(&mut page, d, files_dir)?;
    mixed::sections(&mut page, d, files_dir)?;
    sections::layers(&mut page, d, files_dir)?;
    sections::residency(&mut page, d);
    sections::fallbacks(&mut page, d);
    sections::per_class(&mut page, d);
    page.html.push_str("</body></html>\n");
    Ok(page)
}

const HEAD: &str = r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>milliwatt energy report</title><style>
body{font-family:"DejaVu Sans",sans-serif;margin:20px;max-width:1200px;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}td{white-space:nowrap}
td:nth-child(-n+2),th:nth-child(-n+2){text-align:left}
.t td,.t th{text-align:left}.c td:nth-child(n+2),.c th:nth-child(n+2){text-align:right}th{background:#f0f0f0}.over{color:#c81e1e;font-weight:bold}.fits{color:#008c46;font-weight:bold}
h2{border-bottom:1px solid #ddd;margin-top:28px}h3{margin-bottom:2px}.note{color:#555;font-size:13px}
figure{margin:6px 0 18px}figcaption{font-size:12px;color:#555}svg{display:block;max-width:100%;height:auto}
</style></head><body>
"#;
