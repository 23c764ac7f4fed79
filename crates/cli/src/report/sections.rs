//! The page's sections: headline figures, tables, and the plots (inline SVG plus a PNG file).
use super::charts::{self, Chart};
use super::text::{esc, num, slug};
use super::{Page, ReportData, Variant};
use anyhow::Result;
use mw_energy::{EnergyReport, Verdict, WeightHome};
use std::fmt::Write;

/// Adds `chart` inline with a caption naming its PNG file (unique within the page).
pub(super) fn figure(
    page: &mut Page,
    base: &str,
    chart: Chart,
    caption: &str,
    dir: &str,
) -> Result<()> {
    let mut file = format!("{base}.png");
    let mut n = 2;
    while page.plots.iter().any(|(f, _)| *f == file) {
        file = format!("{base}-{n}.png");
        n += 1;
    }
    let _ = write!(
        page.html,
        "<figure>{}<figcaption>{} PNG: <a href=\"{}/{}\">{}/{}</a></figcaption></figure>",
        chart.svg()?,
        esc(caption),
        esc(dir),
        esc(&file),
        esc(dir),
        esc(&file)
    );
    page.plots.push((file, chart));
    Ok(())
}

fn pct(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.1} %", 100.0 * part / whole)
    } else {
        "-".into()
    }
}

fn times(a: f64, b: f64) -> String {
    if a <= 0.0 || b <= 0.0 {
        return "-".into();
    }
    let r = a.max(b) / a.min(b);
    if r < 1.0005 {
        "the same".into()
    } else if a > b {
        format!("{}× less", ratio(r))
    } else {
        format!("{}× more", ratio(r))
    }
}

/// A ratio to two decimals below 10, one decimal above.
fn ratio(r: f64) -> String {
    if r < 10.0 {
        format!("{r:.2}")
    } else {
        format!("{r:.1}")
    }
}

/// The verdict in a few words, for table cells.
fn verdict_short(r: &EnergyReport) -> String {
    match &r.verdict {
        Some(Verdict::CannotSustain { max_rate_hz }) => format!(
            r#"<span class="over">too slow (max {} /s)</span>"#,
            num(*max_rate_hz)
        ),
        Some(Verdict::OverBudget { .. }) => r#"<span class="over">over</span>"#.into(),
        _ => verdict_word(r),
    }
}

fn verdict_word(r: &EnergyReport) -> String {
    match &r.verdict {
        Some(Verdict::Fits { .. }) => r#"<span class="fits">fits</span>"#.into(),
        Some(Verdict::OverBudget { .. }) => r#"<span class="over">over budget</span>"#.into(),
        Some(Verdict::CannotSustain { max_rate_hz }) => format!(
            r#"<span class="over">cannot sustain the rate (max {} /s)</span>"#,
            num(*max_rate_hz)
        ),
        None => "-".into(),
    }
}

fn homes(r: &EnergyReport) -> String {
    let mut v: Vec<&str> = Vec::new();
    for x in &r.residency {
        let h = home(x.weights_in);
        if !v.contains(&h) {
            v.push(h);
        }
    }
    v.join(", ")
}

pub(super) fn home(w: WeightHome) -> &'static str {
    match w {
        WeightHome::None => "-",
        WeightHome::Sram => "SRAM",
        WeightHome::Staged => "staged from DRAM",
        WeightHome::Dram => "DRAM / flash",
    }
}

/// The headline claims, in sentences, on `horowitz-45nm` (or the first profile): energy per
/// inference and its ratio to the first model, the share spent moving data, SRAM-resident versus
/// DRAM-streamed weights; then the power of every model on every profile against the budget.
pub fn key_figures(page: &mut Page, d: &ReportData) {
    let h = &mut page.html;
    h.push_str("<h2>Key figures</h2>");
    let pi = d
        .profiles
        .iter()
        .position(|p| p == "horowitz-45nm")
        .unwrap_or(0);
    let _ = write!(h, "<p>On <b>{}</b>:</p><ul>", esc(&d.profiles[pi]));
    let base = &d.variants[0];
    let b = base.reports[pi].energy_per_inference_uj;
    let energies: Vec<String> = d
        .variants
        .iter()
        .map(|v| {
            let e = v.reports[pi].energy_per_inference_uj;
            let vs = if std::ptr::eq(v, base) {
                String::new()
            } else {
                format!(", <b>{}</b> energy", times(b, e))
            };
            format!("{} {} µJ{vs}", esc(&v.label()), num(e))
        })
        .collect();
    let _ = write!(h, "<li>Energy per inference: {}.</li>", energies.join("; "));
    movement(h, d, pi);
    residency_claim(h, d, pi);
    h.push_str("</ul>");
    if d.variants
        .iter()
        .any(|v| v.reports[pi].split.overhead_pj > 0.0)
    {
        h.push_str(OVERHEAD_NOTE);
    }
    power_table(h, d);
}

const OVERHEAD_NOTE: &str = "<p class=\"note\">* Overhead is a unit's active power × busy time: \
    an MCU's measured run power (the whole chip running code), or what an accelerator draws while \
    busy beyond its per-operation and per-access energies (clocks, control, the host loop). No \
    source splits it into compute and data movement.</p>";

/// Units whose busy-time power (overhead) a report charges.
fn overhead_units(r: &EnergyReport) -> String {
    let mut v: Vec<&str> = Vec::new();
    for l in r.layers.iter().filter(|l| l.energy.overhead_pj > 0.0) {
        if !v.contains(&l.unit.as_str()) {
            v.push(&l.unit);
        }
    }
    v.join(", ")
}

fn movement(h: &mut String, d: &ReportData, pi: usize) {
    h.push_str("<li>Moving data (register file, buffers, SRAM, DRAM, transfers) versus computing, as shares of the energy of operations and memory accesses (static energy apart): ");
    let parts: Vec<String> = d
        .variants
        .iter()
        .map(|v| {
            let s = &v.reports[pi].split;
            let dynamic = s.compute_pj + s.data_movement_pj();
            let caveat = if s.overhead_pj > 0.0 {
                format!(
                    " (besides {} of its energy as active power of {}, not split*)",
                    pct(s.overhead_pj, s.total_pj()),
                    esc(&overhead_units(&v.reports[pi]))
                )
            } else {
                String::new()
            };
            if dynamic > 0.0 {
                format!(
                    "{}: moving data <b>{}</b>, computing {}{caveat}",
                    esc(&v.label()),
                    pct(s.data_movement_pj(), dynamic),
                    pct(s.compute_pj, dynamic)
                )
            } else {
                format!(
                    "{}: <b>not separable</b>, all of its energy is active power*",
                    esc(&v.label())
                )
            }
        })
        .collect();
    h.push_str(&parts.join("; "));
    h.push_str(".</li>");
}

fn residency_claim(h: &mut String, d: &ReportData, pi: usize) {
    h.push_str("<li>Weights resident in SRAM versus streamed from DRAM at every fetch: ");
    let parts: Vec<String> = d
        .variants
        .iter()
        .map(|v| {
            let (s, m) = v.sram_dram_uj[pi];
            let r = &v.reports[pi];
            let change = match times(m, s).as_str() {
                "the same" => "the same".to_string(),
                _ => format!("×{} from DRAM", ratio(m / s)),
            };
            format!(
                "{} {} versus {} µJ ({change}; as placed, weights in {})",
                esc(&v.label()),
                num(s),
                num(m),
                homes(r)
            )
        })
        .collect();
    h.push_str(&parts.join("; "));
    h.push_str(".</li>");
}

/// One row per profile, one column per model: average power at the rate and the verdict.
fn power_table(h: &mut String, d: &ReportData) {
    let Some(rate) = d.options.rate_hz else {
        return;
    };
    let _ = write!(
        h,
        "<p>Average power at {} inferences/s{}:</p><table class=\"t\"><tr><th>profile</th>",
        num(rate),
        d.options
            .budget_mw
            .map(|b| format!(" against a {} mW budget", num(b)))
            .unwrap_or_default()
    );
    for v in &d.variants {
        let _ = write!(h, "<th>{}</th>", esc(&v.label()));
    }
    h.push_str("</tr>");
    for (pi, p) in d.profiles.iter().enumerate() {
        let _ = write!(h, "<tr><td>{}</td>", esc(p));
        for v in &d.variants {
            let r = &v.reports[pi];
            let _ = write!(
                h,
                "<td>{} mW, {}</td>",
                r.power_mw.map(num).unwrap_or_else(|| "-".into()),
                verdict_word(r)
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

pub fn summary(page: &mut Page, d: &ReportData) {
    let h = &mut page.html;
    h.push_str("<h2>Summary</h2><table><tr><th rowspan=\"2\">profile</th><th rowspan=\"2\">model</th><th rowspan=\"2\">µJ / inference</th><th rowspan=\"2\">vs first model</th><th rowspan=\"2\">latency ms</th><th rowspan=\"2\">mW at rate</th><th rowspan=\"2\">budget</th><th colspan=\"4\">energy split, % of total</th><th rowspan=\"2\">moving data, % of ops + accesses</th><th rowspan=\"2\">weight bytes</th><th rowspan=\"2\">top-1</th><th rowspan=\"2\">top-1 per mJ</th></tr><tr><th>compute</th><th>moving data</th><th>overhead</th><th>static</th></tr>");
    let mut footnote = false;
    for (pi, p) in d.profiles.iter().enumerate() {
        let base = d.variants[0].reports[pi].energy_per_inference_uj;
        for v in &d.variants {
            let r = &v.reports[pi];
            let s = &r.split;
            let t = s.total_pj();
            let mark = if s.overhead_pj > 0.0 {
                footnote = true;
                "*"
            } else {
                ""
            };
            let acc = v.eval.as_ref().map(|e| e.top1);
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{mark}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{}</td><td>{}</td></tr>",
                esc(p),
                esc(&v.label()),
                num(r.energy_per_inference_uj),
                if std::ptr::eq(v, &d.variants[0]) {
                    "—".to_string()
                } else {
                    times(base, r.energy_per_inference_uj)
                },
                num(r.latency_ms),
                r.power_mw.map(num).unwrap_or_else(|| "-".into()),
                verdict_short(r),
                pct(s.compute_pj, t),
                pct(s.data_movement_pj(), t),
                pct(s.overhead_pj, t),
                pct(s.static_pj, t),
                pct(s.data_movement_pj(), s.compute_pj + s.data_movement_pj()),
                r.weight_stored_bytes,
                acc.map(|a| format!("{:.2} %", 100.0 * a))
                    .unwrap_or_else(|| "-".into()),
                acc.map(|a| num(r.per_mj(a))).unwrap_or_else(|| "-".into()),
            );
        }
    }
    h.push_str("</table>");
    if footnote {
        h.push_str(OVERHEAD_NOTE);
    }
}

pub fn power(page: &mut Page, d: &ReportData, dir: &str) -> Result<()> {
    let Some(rate) = d.options.rate_hz else {
        page.html
            .push_str("<h2>Power</h2><p>No <code>--rate</code>: no average power.</p>");
        return Ok(());
    };
    let budget = d.options.budget_mw;
    let _ = write!(
        page.html,
        "<h2>Average power at {} inferences/s{}</h2>",
        num(rate),
        budget
            .map(|b| format!(" against {} mW", num(b)))
            .unwrap_or_default()
    );
    let mut rows = Vec::new();
    for (pi, p) in d.profiles.iter().enumerate() {
        for v in &d.variants {
            let r = &v.reports[pi];
            let (over, note) = match &r.verdict {
                Some(Verdict::OverBudget { .. }) => (true, "over".to_string()),
                Some(Verdict::CannotSustain { max_rate_hz }) => {
                    (true, format!("too slow: max {} /s", num(*max_rate_hz)))
                }
                Some(Verdict::Fits { .. }) => (false, "fits".to_string()),
                None => (false, String::new()),
            };
            rows.push(charts::PowerRow {
                group: p.clone(),
                label: v.label(),
                value: r.power_mw.unwrap_or(0.0),
                over,
                note,
            });
        }
    }
    let chart = Chart::Power(charts::Power {
        rows,
        budget,
        unit: "mW".into(),
        x_title: "average power, mW (log scale)".into(),
    });
    figure(
        page,
        "power-vs-budget",
        chart,
        "Green: within the budget; red: over it, or one inference takes longer than the period.",
        dir,
    )
}

pub fn scatter(page: &mut Page, d: &ReportData, dir: &str) -> Result<()> {
    page.html
        .push_str("<h2>Accuracy versus energy per inference</h2>");
    let mut points = Vec::new();
    for pi in 0..d.profiles.len() {
        for (vi, v) in d.variants.iter().enumerate() {
            if let Some(e) = &v.eval {
                points.push(charts::Point {
                    x: v.reports[pi].energy_per_inference_uj,
                    y: e.top1,
                    color: pi,
                    shape: vi,
                });
            }
        }
    }
    if points.is_empty() {
        page.html.push_str(
            "<p>No eval reports given (<code>--eval eval.json</code>): no accuracy axis.</p>",
        );
        return Ok(());
    }
    let missing: Vec<&str> = d
        .variants
        .iter()
        .filter(|v| v.eval.is_none())
        .map(|v| v.name.as_str())
        .collect();
    if !missing.is_empty() {
        let _ = write!(
            page.html,
            "<p>Without an eval report (not plotted): {}.</p>",
            esc(&missing.join(", "))
        );
    }
    let chart = Chart::Scatter(charts::Scatter {
        points,
        colors: d.profiles.clone(),
        shapes: d.variants.iter().map(Variant::label).collect(),
        x_title: "µJ per inference (log scale)".into(),
        y_title: "top-1 accuracy".into(),
    });
    figure(
        page,
        "accuracy-vs-energy",
        chart,
        "Color: hardware profile; marker: model.",
        dir,
    )
}

const SERIES: [&str; 6] = [
    "compute",
    "RF + buffer + SRAM",
    "DRAM / flash",
    "transfers",
    "overhead (active power)",
    "static",
];

pub fn layers(page: &mut Page, d: &ReportData, dir: &str) -> Result<()> {
    page.html
        .push_str("<h2>Per-layer energy (µJ) and precision</h2>");
    for (pi, p) in d.profiles.iter().enumerate() {
        for v in &d.variants {
            let r = &v.reports[pi];
            let rows = r
                .layers
                .iter()
                .map(|l| {
                    let e = &l.energy;
                    charts::StackRow {
                        label: format!("{} [{}]", l.name, l.precision),
                        parts: vec![
                            e.compute_pj * 1e-6,
                            (e.register_file_pj + e.local_buffer_pj + e.sram_pj) * 1e-6,
                            e.dram_pj * 1e-6,
                            e.transfer_pj * 1e-6,
                            e.overhead_pj * 1e-6,
                            e.static_pj * 1e-6,
                        ],
                        note: if l.fallback {
                            format!("fallback → {}", l.unit)
                        } else {
                            String::new()
                        },
                    }
                })
                .collect();
            let _ = write!(
                page.html,
                "<h3>{} on {}: {} µJ per inference</h3>",
                esc(&v.label()),
                esc(p),
                num(r.energy_per_inference_uj)
            );
            if r.split.overhead_pj > 0.0 {
                let _ = write!(
                    page.html,
                    "<p class=\"note\">Overhead ({} of the energy) is the run power × busy time \
                     of unit {}: its source does not split it into compute and memory.</p>",
                    pct(r.split.overhead_pj, r.split.total_pj()),
                    esc(&overhead_units(r))
                );
            }
            let chart = Chart::Stacked(charts::Stacked {
                rows,
                series: SERIES.iter().map(|s| s.to_string()).collect(),
                unit: "µJ per inference".into(),
            });
            let base = format!("layers-{}-{}", slug(p), slug(&v.name));
            figure(page, &base, chart, "Layer [precision].", dir)?;
            layer_table(&mut page.html, r);
        }
    }
    Ok(())
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

pub fn residency(page: &mut Page, d: &ReportData) {
    let h = &mut page.html;
    h.push_str("<h2>Memory residency</h2><table><tr><th>profile</th><th>model</th><th>unit</th><th>weight bytes</th><th>peak activation bytes</th><th>SRAM bytes</th><th>fits</th><th>weights in</th><th>activations in DRAM</th></tr>");
    for (pi, p) in d.profiles.iter().enumerate() {
        for v in &d.variants {
            for r in &v.reports[pi].residency {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.0}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(p),
                    esc(&v.label()),
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
    h.push_str("</table><p>Energy per inference (µJ) by where the weights live:</p><table><tr><th>profile</th><th>model</th><th>as placed</th><th>all in SRAM</th><th>streamed from DRAM at every fetch</th><th>DRAM / SRAM</th></tr>");
    for (pi, p) in d.profiles.iter().enumerate() {
        for v in &d.variants {
            let (sram, dram) = v.sram_dram_uj[pi];
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(p),
                esc(&v.label()),
                num(v.reports[pi].energy_per_inference_uj),
                num(sram),
                num(dram),
                if sram > 0.0 {
                    ratio(dram / sram)
                } else {
                    "-".into()
                }
            );
        }
    }
    h.push_str("</table>");
}

pub fn fallbacks(page: &mut Page, d: &ReportData) {
    let h = &mut page.html;
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
                    esc(&v.label()),
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

pub fn per_class(page: &mut Page, d: &ReportData) {
    let h = &mut page.html;
    let with: Vec<&Variant> = d.variants.iter().filter(|v| v.eval.is_some()).collect();
    h.push_str("<h2>Per-class accuracy</h2>");
    if with.is_empty() {
        h.push_str("<p>No eval reports given.</p>");
        return;
    }
    h.push_str("<table class=\"c\"><tr><th>class</th>");
    for v in &with {
        let _ = write!(h, "<th>{}</th>", esc(&v.label()));
    }
    h.push_str("<th>examples</th></tr>");
    let mut labels: Vec<(String, u64)> = Vec::new();
    for v in &with {
        for (l, _, n) in v.eval.iter().flat_map(|e| e.per_class.iter()) {
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
