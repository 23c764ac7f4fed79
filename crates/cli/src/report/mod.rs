//! `milliwatt report`: one self-contained HTML page (inline SVG, no external resources) comparing
//! model variants on hardware profiles: accuracy versus energy, per-layer energy split, memory
//! residency, precisions, fallbacks, per-class accuracy and power against a budget.
pub mod svg;

use crate::energy::{load_profile, load_workload, read_eval, EvalSummary};
use anyhow::{bail, Context, Result};
use mw_energy::{evaluate, EnergyReport, Options, Verdict};
use mw_ir::Limits;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use svg::{esc, num};

/// One model variant with its evaluation (if any) and its report on each profile.
pub struct Variant {
    pub name: String,
    pub eval: Option<EvalSummary>,
    /// One per profile, in profile order.
    pub reports: Vec<EnergyReport>,
}

pub struct ReportData {
    pub profiles: Vec<String>,
    pub variants: Vec<Variant>,
    pub options: Options,
}

/// Evaluates every model on every profile. Evals pair with models by position when their counts
/// are equal, otherwise by the file name recorded in the eval report.
pub fn collect(
    models: &[PathBuf],
    hws: &[String],
    evals: &[PathBuf],
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
    let mut variants = Vec::new();
    for (i, model) in models.iter().enumerate() {
        let workload = load_workload(model, limits)?;
        let reports = profiles
            .iter()
            .zip(hws)
            .map(|(p, h)| {
                evaluate(&workload, p, options)
                    .with_context(|| format!("evaluating `{}` on `{h}`", model.display()))
            })
            .collect::<Result<Vec<_>>>()?;
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
            eval,
            reports,
        });
    }
    Ok(ReportData {
        profiles: profiles.iter().map(|p| p.name.clone()).collect(),
        variants,
        options: options.clone(),
    })
}

/// Collects, renders and writes the page atomically.
pub fn report_files(
    models: &[PathBuf],
    hws: &[String],
    evals: &[PathBuf],
    options: &Options,
    out: &Path,
    limits: &Limits,
) -> Result<ReportData> {
    let data = collect(models, hws, evals, options, limits)?;
    crate::output::write_atomic(out, render(&data).as_bytes())?;
    Ok(data)
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// The whole HTML page.
pub fn render(d: &ReportData) -> String {
    let mut h = String::from(HEAD);
    let _ = write!(
        h,
        "<h1>milliwatt energy report</h1><p>Models: {}. Profiles: {}.{}{}</p>",
        esc(&d
            .variants
            .iter()
            .map(|v| v.name.as_str())
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
            .unwrap_or_default()
    );
    summary(&mut h, d);
    scatter(&mut h, d);
    power(&mut h, d);
    layers(&mut h, d);
    residency(&mut h, d);
    fallbacks(&mut h, d);
    per_class(&mut h, d);
    h.push_str("</body></html>\n");
    h
}

const HEAD: &str = r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>milliwatt energy report</title><style>
body{font-family:sans-serif;margin:20px;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
td:nth-child(-n+2),th:nth-child(-n+2){text-align:left}
.t td,.t th{text-align:left}th{background:#f0f0f0}.over{color:#c00;font-weight:bold}.fits{color:#080;font-weight:bold}
h2{border-bottom:1px solid #ddd;margin-top:28px}h3{margin-bottom:2px}
</style></head><body>
"#;

fn verdict(r: &EnergyReport) -> String {
    match &r.verdict {
        Some(Verdict::Fits { .. }) => r#"<span class="fits">fits</span>"#.into(),
        Some(Verdict::OverBudget { .. }) => r#"<span class="over">over</span>"#.into(),
        Some(Verdict::CannotSustain { max_rate_hz }) => format!(
            r#"<span class="over">too slow (max {} /s)</span>"#,
            num(*max_rate_hz)
        ),
        None => "-".into(),
    }
}

fn summary(h: &mut String, d: &ReportData) {
    h.push_str("<h2>Summary</h2><table><tr><th>profile</th><th>model</th><th>µJ / inference</th><th>latency ms</th><th>mW at rate</th><th>budget</th><th>data movement %</th><th>weight bytes</th><th>top-1</th><th>top-1 per mJ</th></tr>");
    for (pi, p) in d.profiles.iter().enumerate() {
        for v in &d.variants {
            let r = &v.reports[pi];
            let acc = v.eval.as_ref().map(|e| e.top1);
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.0}</td><td>{}</td><td>{}</td></tr>",
                esc(p),
                esc(&v.name),
                num(r.energy_per_inference_uj),
                num(r.latency_ms),
                r.power_mw.map(num).unwrap_or_else(|| "-".into()),
                verdict(r),
                100.0 * r.data_movement_share,
                r.weight_stored_bytes,
                acc.map(|a| format!("{:.2} %", 100.0 * a))
                    .unwrap_or_else(|| "-".into()),
                acc.map(|a| num(r.per_mj(a))).unwrap_or_else(|| "-".into()),
            );
        }
    }
    h.push_str("</table>");
}

fn scatter(h: &mut String, d: &ReportData) {
    h.push_str("<h2>Accuracy versus energy per inference</h2>");
    let mut points = Vec::new();
    for (pi, p) in d.profiles.iter().enumerate() {
        for (vi, v) in d.variants.iter().enumerate() {
            if let Some(e) = &v.eval {
                points.push(svg::Point {
                    x: v.reports[pi].energy_per_inference_uj,
                    y: e.top1,
                    label: format!(
                        "{} on {}: {} µJ, {:.2} %",
                        v.name,
                        p,
                        num(v.reports[pi].energy_per_inference_uj),
                        100.0 * e.top1
                    ),
                    color: pi % svg::PALETTE.len(),
                    shape: vi,
                });
            }
        }
    }
    if points.is_empty() {
        h.push_str(
            "<p>No eval reports given (<code>--eval eval.json</code>): no accuracy axis.</p>",
        );
        return;
    }
    let missing: Vec<&str> = d
        .variants
        .iter()
        .filter(|v| v.eval.is_none())
        .map(|v| v.name.as_str())
        .collect();
    if !missing.is_empty() {
        let _ = write!(
            h,
            "<p>Without an eval report (not plotted): {}.</p>",
            esc(&missing.join(", "))
        );
    }
    h.push_str(&svg::scatter(
        &points,
        "µJ per inference (log scale)",
        "top-1 accuracy",
    ));
    let names: Vec<String> = d.variants.iter().map(|v| v.name.clone()).collect();
    h.push_str("<br>");
    h.push_str(&svg::marker_legend(&d.profiles, &names));
}

fn power(h: &mut String, d: &ReportData) {
    let Some(rate) = d.options.rate_hz else {
        h.push_str("<h2>Power</h2><p>No <code>--rate</code>: no average power.</p>");
        return;
    };
    let _ = write!(
        h,
        "<h2>Average power at {} inferences/s{}</h2>",
        num(rate),
        d.options
            .budget_mw
            .map(|b| format!(" against {} mW", num(b)))
            .unwrap_or_default()
    );
    for (pi, p) in d.profiles.iter().enumerate() {
        let rows: Vec<(String, f64)> = d
            .variants
            .iter()
            .map(|v| (v.name.clone(), v.reports[pi].power_mw.unwrap_or(0.0)))
            .collect();
        let _ = write!(h, "<h3>{}</h3>", esc(p));
        h.push_str(&svg::budget_bars(&rows, d.options.budget_mw, "mW"));
    }
}

const SERIES: [&str; 5] = [
    "compute",
    "SRAM (incl. RF, buffer)",
    "DRAM",
    "static",
    "transfers + overhead",
];

fn layers(h: &mut String, d: &ReportData) {
    h.push_str("<h2>Per-layer energy (µJ) and precision</h2>");
    for (pi, p) in d.profiles.iter().enumerate() {
        for v in &d.variants {
            let r = &v.reports[pi];
            let rows: Vec<svg::StackRow> = r
                .layers
                .iter()
                .map(|l| {
                    let e = &l.energy;
                    svg::StackRow {
                        label: l.name.clone(),
                        parts: vec![
                            e.compute_pj * 1e-6,
                            (e.register_file_pj + e.local_buffer_pj + e.sram_pj) * 1e-6,
                            e.dram_pj * 1e-6,
                            e.static_pj * 1e-6,
                            (e.transfer_pj + e.overhead_pj) * 1e-6,
                        ],
                        note: if l.fallback {
                            format!("fallback → {}", l.unit)
                        } else {
                            String::new()
                        },
                    }
                })
                .collect();
            let _ = write!(h, "<h3>{} on {}</h3>", esc(&v.name), esc(p));
            h.push_str(&svg::stacked_bars(&rows, &SERIES, "µJ"));
            layer_table(h, r);
        }
    }
}

fn layer_table(h: &mut String, r: &EnergyReport) {
    h.push_str("<details><summary>layer table</summary><table><tr><th>layer</th><th>op</th><th>unit</th><th>precision</th><th>weight precision</th><th>MACs</th><th>weight bytes</th><th>weights in</th><th>latency ms</th><th>µJ</th></tr>");
    for l in &r.layers {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&l.name),
            esc(&l.op_type),
            esc(&l.unit),
            esc(&l.precision),
            esc(l.weight_precision.as_deref().unwrap_or("-")),
            l.macs,
            l.weight_stored_bytes,
            home(l.weights_in),
            num(l.latency_ms),
            num(l.energy_uj)
        );
    }
    h.push_str("</table></details>");
}

fn home(w: mw_energy::WeightHome) -> &'static str {
    match w {
        mw_energy::WeightHome::None => "-",
        mw_energy::WeightHome::Sram => "SRAM",
        mw_energy::WeightHome::Staged => "staged from DRAM",
        mw_energy::WeightHome::Dram => "DRAM",
    }
}

fn residency(h: &mut String, d: &ReportData) {
    h.push_str("<h2>Memory residency</h2><table><tr><th>profile</th><th>model</th><th>unit</th><th>weight bytes</th><th>peak activation bytes</th><th>SRAM bytes</th><th>fits</th><th>weights in</th><th>activations in DRAM</th></tr>");
    for (pi, p) in d.profiles.iter().enumerate() {
        for v in &d.variants {
            for r in &v.reports[pi].residency {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.0}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(p),
                    esc(&v.name),
                    esc(&r.unit),
                    r.weight_bytes,
                    r.peak_activation_bytes,
                    r.sram_capacity_bytes,
                    if r.fits { "yes" } else { r#"<span class="over">no</span>"# },
                    home(r.weights_in),
                    if r.activations_in_dram { "yes" } else { "no" }
                );
            }
        }
    }
    h.push_str("</table>");
}

fn fallbacks(h: &mut String, d: &ReportData) {
    h.push_str("<h2>Fallbacks</h2>");
    let mut any = false;
    let mut t = String::from("<table class=\"t\"><tr><th>profile</th><th>model</th><th>layer</th><th>op</th><th>precision</th><th>runs on</th><th>reason</th></tr>");
    for (pi, p) in d.profiles.iter().enumerate() {
        for v in &d.variants {
            for f in &v.reports[pi].fallbacks {
                any = true;
                let _ = write!(
                    t,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(p),
                    esc(&v.name),
                    esc(&f.layer),
                    esc(&f.op_type),
                    esc(&f.precision),
                    esc(&f.unit),
                    esc(&f.reason)
                );
            }
        }
    }
    if any {
        t.push_str("</table>");
        h.push_str(&t);
    } else {
        h.push_str("<p>None: every layer runs on its profile's first unit.</p>");
    }
}

fn per_class(h: &mut String, d: &ReportData) {
    let with: Vec<&Variant> = d.variants.iter().filter(|v| v.eval.is_some()).collect();
    h.push_str("<h2>Per-class accuracy</h2>");
    if with.is_empty() {
        h.push_str("<p>No eval reports given.</p>");
        return;
    }
    h.push_str("<table><tr><th>class</th>");
    for v in &with {
        let _ = write!(h, "<th>{}</th>", esc(&v.name));
    }
    h.push_str("<th>examples</th></tr>");
    let mut labels: Vec<(String, u64)> = Vec::new();
    for v in &with {
        for (l, _, n) in &v
            .eval
            .as_ref()
            .map(|e| e.per_class.clone())
            .unwrap_or_default()
        {
            if !labels.iter().any(|(x, _)| x == l) {
                labels.push((l.clone(), *n));
            }
        }
    }
    for (label, n) in &labels {
        let _ = write!(h, "<tr><td>{}</td>", esc(label));
        for v in &with {
            let a = v
                .eval
                .as_ref()
                .and_then(|e| e.per_class.iter().find(|c| &c.0 == label))
                .map(|c| format!("{:.1} %", 100.0 * c.1))
                .unwrap_or_else(|| "-".into());
            let _ = write!(h, "<td>{a}</td>");
        }
        let _ = write!(h, "<td>{n}</td></tr>");
    }
    h.push_str("</table>");
}
