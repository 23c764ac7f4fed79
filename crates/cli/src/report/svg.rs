//! Hand-written inline SVG charts: deterministic strings, no external resources.
use std::fmt::Write;

/// Colors for series, in order.
pub const PALETTE: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// Escapes text for HTML and SVG.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One point of a scatter: x > 0 (log axis), y in [0, 1].
pub struct Point {
    pub x: f64,
    pub y: f64,
    /// Tooltip text.
    pub label: String,
    /// Palette index (the profile).
    pub color: usize,
    /// Marker shape index (the variant): circle, square, triangle, diamond.
    pub shape: usize,
}

/// Draws marker `shape` in palette color `color` at (x, y), with a tooltip.
fn marker(s: &mut String, x: f64, y: f64, color: usize, shape: usize, tip: &str) {
    let c = PALETTE.get(color).copied().unwrap_or("#666");
    let tip = esc(tip);
    let _ = match shape % 4 {
        0 => write!(
            s,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="6" fill="{c}"><title>{tip}</title></circle>"#
        ),
        1 => write!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="11" height="11" fill="{c}"><title>{tip}</title></rect>"#,
            x - 5.5,
            y - 5.5
        ),
        2 => write!(
            s,
            r#"<polygon points="{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{c}"><title>{tip}</title></polygon>"#,
            y - 7.0,
            x - 6.5,
            y + 5.0,
            x + 6.5,
            y + 5.0
        ),
        _ => write!(
            s,
            r#"<polygon points="{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}" fill="{c}"><title>{tip}</title></polygon>"#,
            y - 7.0,
            x + 7.0,
            y + 7.0,
            x - 7.0
        ),
    };
}

/// A legend of colors (`colors`) and marker shapes (`shapes`), as one SVG line each.
pub fn marker_legend(colors: &[String], shapes: &[String]) -> String {
    let (w, h) = (900.0, 50.0);
    let mut s = open(w, h);
    let mut x = 70.0;
    for (i, name) in colors.iter().enumerate() {
        marker(&mut s, x, 14.0, i, 0, name);
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="18">{}</text>"#,
            x + 10.0,
            esc(name)
        );
        x += 30.0 + 6.5 * name.chars().count() as f64;
    }
    let mut x = 70.0;
    for (i, name) in shapes.iter().enumerate() {
        marker(&mut s, x, 38.0, usize::MAX, i, name);
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="42">{}</text>"#,
            x + 10.0,
            esc(name)
        );
        x += 30.0 + 6.5 * name.chars().count() as f64;
    }
    s.push_str("</svg>");
    s
}

/// Accuracy (linear, %) versus µJ per inference (log10) scatter.
pub fn scatter(points: &[Point], x_title: &str, y_title: &str) -> String {
    let (w, h, l, r, t, b) = (760.0, 360.0, 70.0, 30.0, 20.0, 50.0);
    let xs: Vec<f64> = points
        .iter()
        .map(|p| p.x)
        .filter(|x| *x > 0.0 && x.is_finite())
        .collect();
    let lo = xs.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() {
        (
            lo.log10().floor(),
            hi.log10().ceil().max(lo.log10().floor() + 1.0),
        )
    } else {
        (0.0, 1.0)
    };
    let ys: Vec<f64> = points.iter().map(|p| p.y).collect();
    let ylo = (ys.iter().cloned().fold(1.0, f64::min) * 10.0 - 0.5).floor() / 10.0;
    let ylo = ylo.clamp(0.0, 0.9);
    let px = |x: f64| l + (x.log10() - lo) / (hi - lo) * (w - l - r);
    let py = |y: f64| t + (1.0 - (y - ylo) / (1.0 - ylo)) * (h - t - b);
    let mut s = open(w, h);
    axes(&mut s, l, t, w - r, h - b);
    for d in (lo as i32)..=(hi as i32) {
        let x = px(10f64.powi(d));
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{t}" x2="{x:.1}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            h - b,
            h - b + 16.0,
            fmt_pow10(d)
        );
    }
    for i in 0..=5 {
        let y = ylo + (1.0 - ylo) * i as f64 / 5.0;
        let yy = py(y);
        let _ = write!(
            s,
            r##"<line x1="{l}" y1="{yy:.1}" x2="{}" y2="{yy:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{:.0} %</text>"##,
            w - r,
            l - 6.0,
            yy + 4.0,
            100.0 * y
        );
    }
    for p in points.iter().filter(|p| p.x > 0.0 && p.x.is_finite()) {
        marker(&mut s, px(p.x), py(p.y), p.color, p.shape, &p.label);
    }
    titles(&mut s, w, h, l, t, b, x_title, y_title);
    s.push_str("</svg>");
    s
}

/// One row of a horizontal stacked bar chart.
pub struct StackRow {
    pub label: String,
    pub parts: Vec<f64>,
    /// Marked in red after the bar (e.g. "fallback").
    pub note: String,
}

/// Horizontal stacked bars, one row per label; `series` names the parts.
pub fn stacked_bars(rows: &[StackRow], series: &[&str], unit: &str) -> String {
    let (w, l, r, t, row_h) = (900.0, 230.0, 170.0, 30.0, 18.0);
    let h = t + row_h * rows.len() as f64 + 40.0;
    let max = rows
        .iter()
        .map(|r| r.parts.iter().sum::<f64>())
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let scale = (w - l - r) / max;
    let mut s = open(w, h);
    legend(&mut s, series, l, 14.0);
    for (i, row) in rows.iter().enumerate() {
        let y = t + row_h * i as f64;
        let _ = write!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            l - 6.0,
            y + row_h * 0.7,
            esc(&short(&row.label, 32))
        );
        let mut x = l;
        for (k, v) in row.parts.iter().enumerate() {
            let bw = (v.max(0.0)) * scale;
            if bw > 0.0 {
                let _ = write!(
                    s,
                    r#"<rect x="{x:.2}" y="{:.1}" width="{bw:.2}" height="{:.1}" fill="{}"><title>{}: {} {unit}</title></rect>"#,
                    y + 2.0,
                    row_h - 4.0,
                    PALETTE[k % PALETTE.len()],
                    esc(series.get(k).copied().unwrap_or("")),
                    num(*v)
                );
            }
            x += bw;
        }
        let total: f64 = row.parts.iter().sum();
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}">{}</text>"##,
            x + 4.0,
            y + row_h * 0.7,
            num(total)
        );
        if !row.note.is_empty() {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" fill="#c00">{}</text>"##,
                x + 50.0,
                y + row_h * 0.7,
                esc(&row.note)
            );
        }
    }
    let axis_y = t + row_h * rows.len() as f64 + 4.0;
    let _ = write!(
        s,
        r##"<line x1="{l}" y1="{axis_y:.1}" x2="{}" y2="{axis_y:.1}" stroke="#333"/><text x="{l}" y="{:.1}">0</text><text x="{}" y="{:.1}" text-anchor="end">{} {unit}</text>"##,
        w - r,
        axis_y + 16.0,
        w - r,
        axis_y + 16.0,
        num(max)
    );
    s.push_str("</svg>");
    s
}

/// Horizontal bars of power against a budget line; bars over the budget are red.
pub fn budget_bars(rows: &[(String, f64)], budget: Option<f64>, unit: &str) -> String {
    let (w, l, r, t, row_h) = (760.0, 230.0, 110.0, 10.0, 24.0);
    let h = t + row_h * rows.len() as f64 + 30.0;
    let max = rows
        .iter()
        .map(|r| r.1)
        .chain(budget)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.05;
    let scale = (w - l - r) / max;
    let mut s = open(w, h);
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = t + row_h * i as f64;
        let over = budget.is_some_and(|b| *v > b);
        let color = if over { "#d62728" } else { "#2ca02c" };
        let _ = write!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text><rect x="{l}" y="{:.1}" width="{:.2}" height="{:.1}" fill="{color}"/><text x="{:.1}" y="{:.1}">{} {unit}{}</text>"#,
            l - 6.0,
            y + row_h * 0.65,
            esc(&short(label, 32)),
            y + 3.0,
            v * scale,
            row_h - 6.0,
            l + v * scale + 4.0,
            y + row_h * 0.65,
            num(*v),
            if over { " (over)" } else { "" }
        );
    }
    let bottom = t + row_h * rows.len() as f64;
    if let Some(b) = budget {
        let x = l + b * scale;
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{t}" x2="{x:.1}" y2="{bottom:.1}" stroke="#000" stroke-dasharray="4 3"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">budget {} {unit}</text>"##,
            bottom + 16.0,
            num(b)
        );
    }
    s.push_str("</svg>");
    s
}

/// A number with about four significant digits.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    }
}

fn fmt_pow10(d: i32) -> String {
    if (-2..=4).contains(&d) {
        num(10f64.powi(d))
    } else {
        format!("1e{d}")
    }
}

fn short(name: &str, n: usize) -> String {
    if name.chars().count() <= n {
        return name.to_string();
    }
    let tail: String = name.chars().skip(name.chars().count() - (n - 1)).collect();
    format!("…{tail}")
}

fn open(w: f64, h: f64) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"#
    )
}

fn axes(s: &mut String, x0: f64, y0: f64, x1: f64, y1: f64) {
    let _ = write!(
        s,
        r##"<rect x="{x0}" y="{y0}" width="{}" height="{}" fill="none" stroke="#333"/>"##,
        x1 - x0,
        y1 - y0
    );
}

#[allow(clippy::too_many_arguments)]
fn titles(s: &mut String, w: f64, h: f64, l: f64, t: f64, b: f64, x: &str, y: &str) {
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">{}</text><text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle" font-size="12">{}</text>"#,
        (l + w) / 2.0,
        h - 8.0,
        esc(x),
        (t + h - b) / 2.0,
        esc(y)
    );
}

fn legend(s: &mut String, series: &[&str], x0: f64, y: f64) {
    let mut x = x0;
    for (k, name) in series.iter().enumerate() {
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{y:.1}">{}</text>"#,
            y - 9.0,
            PALETTE[k % PALETTE.len()],
            x + 14.0,
            esc(name)
        );
        x += 24.0 + 7.0 * name.len() as f64;
    }
}
