//! The page's mixed-precision section, one per `--search` report: the explored fronts (accuracy
//! proxy and held-out top-1 versus weight bytes and versus µJ per inference) and the chosen
//! per-layer formats.
use super::charts::Chart;
use super::front_chart::{Front, Look, Panel, Series};
use super::search::{bits, Budget, Evaluated, Search};
use super::text::{esc, num};
use super::{Page, ReportData, Variant};
use anyhow::Result;
use mw_energy::EnergyReport;
use std::fmt::Write;

pub fn sections(page: &mut Page, d: &ReportData, dir: &str) -> Result<()> {
    for (i, s) in d.searches.iter().enumerate() {
        section(page, d, s, i, dir)?;
    }
    Ok(())
}

fn section(page: &mut Page, d: &ReportData, s: &Search, i: usize, dir: &str) -> Result<()> {
    let file = s
        .path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let profile = s.profile.as_deref().unwrap_or("-");
    let _ = write!(
        page.html,
        "<h2>Mixed precision: explored fronts and chosen formats ({})</h2><p>Search report <code>{}</code>: \
         budget {}; {} layers. Accuracy proxy: mean KL divergence of the model's output from the float \
         model's on {} held-out calibration examples (nats, lower is better; log scale); the \
         assembled points also have their held-out top-1. Explored: {} single-layer probes, {} points on \
         the predicted bytes front, {} on the predicted energy front (additive model), {} assembled and \
         measured.</p>",
        esc(&file),
        esc(&file),
        esc(&budget_text(s.budget, profile)),
        s.layers.len(),
        s.holdout_examples,
        s.sensitivity.iter().map(|l| l.options.len().saturating_sub(1)).sum::<usize>(),
        s.bytes_front.len(),
        s.energy_front.len(),
        s.evaluated.len()
    );
    headline(&mut page.html, s, profile);
    let base = if i == 0 {
        "mixed-front".to_string()
    } else {
        format!("mixed-front-{}", i + 1)
    };
    let caption = format!(
        "Grey: the base with one layer changed; line: predicted front; orange: assembled points \
         as measured; ringed: the chosen point; dashed: the budget. µJ on {profile}."
    );
    super::sections::figure(page, &base, Chart::Front(front(s, profile)), &caption, dir)?;
    layer_table(&mut page.html, d, s);
    evaluated_table(&mut page.html, s);
    Ok(())
}

fn budget_text(b: Budget, profile: &str) -> String {
    match b {
        Budget::WeightBytes(v) => format!("{} weight bytes", num(v)),
        Budget::EnergyUj(v) => format!("{} µJ per inference on {profile}", num(v)),
    }
}

fn headline(h: &mut String, s: &Search, profile: &str) {
    let figures = |e: &Evaluated| {
        format!(
            "{} weight bytes, {} µJ per inference on {}, KL {:.4}, held-out top-1 {}",
            num(e.weight_bytes),
            e.energy_uj.map_or("-".into(), num),
            esc(profile),
            e.score.kl,
            e.score
                .top1
                .map_or("-".into(), |t| format!("{:.1} %", 100.0 * t))
        )
    };
    match &s.chosen {
        Some(c) => {
            let _ = write!(
                h,
                "<p><b>Chosen</b> ({}): {}. Base (every layer {}): {}.</p>",
                esc(&c.source),
                figures(c),
                esc(s.base.layers.values().next().map_or("-", |f| f.as_str())),
                figures(&s.base)
            );
        }
        None => {
            let unit = match s.budget {
                Budget::WeightBytes(_) => "weight bytes",
                Budget::EnergyUj(_) => "µJ",
            };
            let _ = write!(
                h,
                "<p class=\"over\">No configuration within the budget: the lowest reachable is {} {unit}.</p>",
                num(s.lowest_reachable)
            );
        }
    }
}

/// KL versus bytes and µJ (µJ only when the search had a profile), then held-out top-1 versus
/// both when the assembled points have it.
fn front(s: &Search, profile: &str) -> Front {
    let energy = s.base.energy_uj.is_some();
    let top1 = s.evaluated.iter().any(|e| e.score.top1.is_some());
    let bytes_x = "weight bytes (as stored)".to_string();
    let uj_x = format!("µJ per inference on {profile}");
    let mut panels = vec![kl_panel(s, false, &bytes_x)];
    if energy {
        panels.push(kl_panel(s, true, &uj_x));
    }
    if top1 {
        panels.push(top1_panel(s, false, &bytes_x));
        if energy {
            panels.push(top1_panel(s, true, &uj_x));
        }
    }
    Front {
        columns: if energy { 2 } else { 1 },
        panels,
    }
}

fn cost(e: &Evaluated, energy: bool) -> f64 {
    if energy {
        e.energy_uj.unwrap_or(f64::NAN)
    } else {
        e.weight_bytes
    }
}

fn budget_line(s: &Search, energy: bool) -> Option<(f64, String)> {
    match (s.budget, energy) {
        (Budget::WeightBytes(v), false) => Some((v, format!("budget {} B", num(v)))),
        (Budget::EnergyUj(v), true) => Some((v, format!("budget {} µJ", num(v)))),
        _ => None,
    }
}

fn marked(s: &Search, energy: bool, y: impl Fn(&Evaluated) -> Option<f64>) -> Vec<Series> {
    let point = |e: &Evaluated| y(e).map(|v| (cost(e, energy), v));
    let base_name = format!(
        "base ({})",
        s.base.layers.values().next().map_or("-", |f| f.as_str())
    );
    vec![
        Series {
            name: "assembled (measured)".into(),
            look: Look::Marker,
            color: 1,
            points: s
                .evaluated
                .iter()
                .filter(|e| e.source != "base")
                .filter_map(point)
                .collect(),
        },
        Series {
            name: base_name,
            look: Look::Base,
            color: 0,
            points: point(&s.base).into_iter().collect(),
        },
        Series {
            name: "chosen".into(),
            look: Look::Chosen,
            color: 0,
            points: s.chosen.as_ref().and_then(point).into_iter().collect(),
        },
    ]
}

fn kl_panel(s: &Search, energy: bool, x_title: &str) -> Panel {
    let probes = s
        .sensitivity
        .iter()
        .flat_map(|l| l.options.iter().skip(1))
        .filter_map(|o| {
            let dx = if energy {
                s.base.energy_uj.zip(o.delta_energy_uj).map(|(b, d)| b + d)
            } else {
                Some(s.base.weight_bytes + o.delta_weight_bytes)
            };
            dx.map(|x| (x, s.base.score.kl + o.delta_kl))
        })
        .collect();
    let front = if energy {
        &s.energy_front
    } else {
        &s.bytes_front
    };
    let mut series = vec![
        Series {
            name: "single-layer probes".into(),
            look: Look::Probe,
            color: 0,
            points: probes,
        },
        Series {
            name: "predicted front".into(),
            look: Look::Line,
            color: 0,
            points: front.iter().map(|p| (p.resource, p.kl)).collect(),
        },
    ];
    series.extend(marked(s, energy, |e| Some(e.score.kl)));
    Panel {
        title: format!("KL versus {}", if energy { "µJ" } else { "bytes" }),
        x_title: x_title.into(),
        y_title: "mean KL from float (log)".into(),
        log_y: true,
        percent_y: false,
        series,
        budget: budget_line(s, energy),
    }
}

/// Held-out top-1 of the assembled points, with their measured front (most accurate for the
/// cost) as the line.
fn top1_panel(s: &Search, energy: bool, x_title: &str) -> Panel {
    let mut pts: Vec<(f64, f64)> = s
        .evaluated
        .iter()
        .filter_map(|e| e.score.top1.map(|t| (cost(e, energy), t)))
        .filter(|q| q.0.is_finite())
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let mut measured = Vec::new();
    for q in pts {
        if measured.last().is_none_or(|l: &(f64, f64)| q.1 > l.1) {
            measured.push(q);
        }
    }
    let mut series = vec![Series {
        name: "measured front".into(),
        look: Look::Line,
        color: 2,
        points: measured,
    }];
    series.extend(marked(s, energy, |e| e.score.top1));
    Panel {
        title: format!(
            "Held-out top-1 versus {}",
            if energy { "µJ" } else { "bytes" }
        ),
        x_title: x_title.into(),
        y_title: "held-out top-1".into(),
        log_y: false,
        percent_y: true,
        series,
        budget: budget_line(s, energy),
    }
}

/// The model of the report that is the chosen configuration: it has every layer and the chosen
/// weight bytes (the energy model counts both the same way).
fn chosen_variant<'a>(d: &'a ReportData, c: &Evaluated) -> Option<&'a Variant> {
    d.variants.iter().find(|v| {
        let r = &v.reports[0];
        (r.weight_stored_bytes - c.weight_bytes).abs() < 0.5
            && c.layers
                .keys()
                .all(|n| r.layers.iter().any(|l| l.name == *n))
    })
}

fn layer_table(h: &mut String, d: &ReportData, s: &Search) {
    let Some(c) = &s.chosen else {
        return;
    };
    let model = chosen_variant(d, c);
    let profile = s.profile.as_deref().unwrap_or("");
    let report: Option<(&EnergyReport, &str)> = model.map(|v| {
        let pi = d.profiles.iter().position(|p| p == profile).unwrap_or(0);
        (&v.reports[pi], d.profiles[pi].as_str())
    });
    let _ = write!(
        h,
        "<h3>Chosen formats per layer</h3><p class=\"note\">{}</p>",
        match (model, report) {
            (Some(v), Some((_, p))) => format!(
                "Bytes and µJ from the report's model {} on {}.",
                esc(&v.label()),
                esc(p)
            ),
            _ => "Per-layer bytes and µJ need the chosen model among the report's models \
                  (the file <code>quantize --scheme mixed -o</code> wrote)."
                .into(),
        }
    );
    h.push_str("<table class=\"c\"><tr><th>layer</th><th>format</th><th>weight bits</th><th>activation bits</th><th>weight bytes</th><th>µJ</th></tr>");
    for node in &s.layers {
        let f = c.layers.get(node).map_or("-", |f| f.as_str());
        let (wb, ab) = bits(f).map_or(("-".into(), "-".into()), |(w, a)| {
            (w.to_string(), a.to_string())
        });
        let layer = report.and_then(|(r, _)| r.layers.iter().find(|l| l.name == *node));
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{wb}</td><td>{ab}</td><td>{}</td><td>{}</td></tr>",
            esc(node),
            esc(f),
            layer.map_or("-".into(), |l| format!("{:.0}", l.weight_stored_bytes)),
            layer.map_or("-".into(), |l| num(l.energy_uj))
        );
    }
    let _ = write!(
        h,
        "<tr><th>model total</th><th></th><th></th><th></th><th>{}</th><th>{}</th></tr></table>",
        num(c.weight_bytes),
        c.energy_uj.map_or("-".into(), num)
    );
}

fn evaluated_table(h: &mut String, s: &Search) {
    h.push_str("<details><summary>assembled points</summary><table class=\"c\"><tr><th>source</th><th>weight bytes</th><th>µJ</th><th>KL</th><th>agreement with float</th><th>held-out top-1</th><th>within budget</th></tr>");
    for e in &s.evaluated {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.1} %</td><td>{}</td><td>{}</td></tr>",
            esc(&e.source),
            num(e.weight_bytes),
            e.energy_uj.map_or("-".into(), num),
            e.score.kl,
            100.0 * e.score.agreement,
            e.score.top1.map_or("-".into(), |t| format!("{:.1} %", 100.0 * t)),
            if e.within_budget { "yes" } else { "no" }
        );
    }
    h.push_str("</table></details>");
}
