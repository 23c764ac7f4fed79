//! The report's plots, drawn once with plotters onto either backend: inline SVG for the page and
//! PNG files beside it. Text is laid out with DejaVu Sans compiled into the binary (no system font
//! lookup), so the same chart gives the same bytes on every machine.
use super::text::{num, short, tick};
use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::sync::Once;

/// Series colors, in order (colour-blind-safe Okabe–Ito palette, then greys).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(120, 120, 120),
    RGBColor(240, 228, 66),
];
const FITS: RGBColor = RGBColor(0, 140, 70);
const OVER: RGBColor = RGBColor(200, 30, 30);
const GRID: RGBColor = RGBColor(225, 225, 225);
const INK: RGBColor = RGBColor(34, 34, 34);
const FAMILY: &str = "sans-serif";
/// plotters' SVG backend writes `font-size` as the style size / 1.24; sizes here are CSS pixels.
const SVG_SIZE: f64 = 1.24;

/// One point of the scatter: x > 0 (log axis), y an accuracy in [0, 1].
pub struct Point {
    pub x: f64,
    pub y: f64,
    /// Palette index (the profile).
    pub color: usize,
    /// Marker shape index (the variant): circle, square, triangle, diamond.
    pub shape: usize,
}

pub struct Scatter {
    pub points: Vec<Point>,
    /// Legend: the name of each color, then of each shape.
    pub colors: Vec<String>,
    pub shapes: Vec<String>,
    pub x_title: String,
    pub y_title: String,
}

/// One row of the stacked bars: a label, the parts in series order, a note after the bar.
pub struct StackRow {
    pub label: String,
    pub parts: Vec<f64>,
    pub note: String,
}

pub struct Stacked {
    pub rows: Vec<StackRow>,
    pub series: Vec<String>,
    pub unit: String,
}

/// One bar of the power chart.
pub struct PowerRow {
    /// Row group (the profile): named on its first row; a thin line separates groups.
    pub group: String,
    pub label: String,
    pub value: f64,
    pub over: bool,
    /// Printed after the value (e.g. "over", "cannot sustain").
    pub note: String,
}

pub struct Power {
    pub rows: Vec<PowerRow>,
    pub budget: Option<f64>,
    pub unit: String,
    pub x_title: String,
}

pub enum Chart {
    Scatter(Scatter),
    Stacked(Stacked),
    Power(Power),
    /// The mixed-precision search's fronts (`super::front_chart`).
    Front(super::front_chart::Front),
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

impl Chart {
    /// Width and height in pixels (SVG user units and PNG pixels alike).
    pub fn size(&self) -> (u32, u32) {
        match self {
            Chart::Scatter(_) => (980, 440),
            Chart::Stacked(s) => (980, 70 + 22 * s.rows.len() as u32 + 40),
            Chart::Power(p) => (980, 40 + 26 * p.rows.len() as u32 + 50),
            Chart::Front(f) => f.size(),
        }
    }

    /// The chart as an SVG element for inline use.
    pub fn svg(&self) -> Result<String> {
        register_font();
        let mut s = String::new();
        {
            let root = SVGBackend::with_string(&mut s, self.size()).into_drawing_area();
            self.draw(&root).map_err(|e| anyhow!("drawing SVG: {e}"))?;
            root.present().map_err(|e| anyhow!("drawing SVG: {e}"))?;
        }
        Ok(s)
    }

    /// The chart as a PNG file (8-bit RGB).
    pub fn png(&self) -> Result<Vec<u8>> {
        register_font();
        let (w, h) = self.size();
        let mut rgb = vec![0u8; 3 * w as usize * h as usize];
        {
            let font = ab_glyph::FontRef::try_from_slice(dejavu::sans::regular())?;
            let root = super::raster::Raster::new(&mut rgb, (w, h), font).into_drawing_area();
            self.draw(&root).map_err(|e| anyhow!("drawing PNG: {e}"))?;
            root.present().map_err(|e| anyhow!("drawing PNG: {e}"))?;
        }
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Default);
        let mut writer = enc.write_header()?;
        writer.write_image_data(&rgb)?;
        writer.finish()?;
        Ok(out)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        match self {
            Chart::Scatter(s) => scatter(root, s),
            Chart::Stacked(s) => stacked(root, s),
            Chart::Power(p) => power(root, p),
            Chart::Front(f) => super::front_chart::draw(root, f),
        }
    }
}

/// Registers DejaVu Sans (from the `dejavu` crate, Bitstream Vera licence: free to embed and
/// redistribute) as the only font family the plots use.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // DejaVu Sans is a valid font: registration cannot fail on it.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular());
    });
}

fn style(size: f64, color: &RGBColor, h: HPos) -> TextStyle<'static> {
    (FAMILY, size * SVG_SIZE)
        .into_font()
        .color(color)
        .pos(Pos::new(h, VPos::Center))
}

pub(super) fn text<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &str,
    at: (i32, i32),
    size: f64,
    h: HPos,
    color: &RGBColor,
) -> DrawResult<DB> {
    root.draw(&Text::new(s.to_string(), at, style(size, color, h)))
}

pub(super) fn text_width<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &str,
    size: f64,
) -> i32 {
    root.estimate_text_size(s, &style(size, &INK, HPos::Left))
        .map(|(w, _)| w as i32)
        .unwrap_or(7 * s.chars().count() as i32)
}

/// Marker `shape` in palette `color` (grey for an index past the palette) centred at `c`.
fn marker<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: (i32, i32),
    color: usize,
    shape: usize,
) -> DrawResult<DB> {
    let fill = PALETTE.get(color).copied().unwrap_or(INK).filled();
    let (x, y) = c;
    match shape % 4 {
        0 => root.draw(&Circle::new(c, 6, fill)),
        1 => root.draw(&Rectangle::new([(x - 5, y - 5), (x + 6, y + 6)], fill)),
        2 => root.draw(&Polygon::new(
            vec![(x, y - 7), (x - 7, y + 5), (x + 7, y + 5)],
            fill,
        )),
        _ => root.draw(&Polygon::new(
            vec![(x, y - 7), (x + 7, y), (x, y + 7), (x - 7, y)],
            fill,
        )),
    }
}

/// Accuracy (linear) versus energy (log10) with a legend on the right.
fn scatter<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, s: &Scatter) -> DrawResult<DB> {
    let (w, _) = root.dim_in_pixel();
    let legend_w = 250;
    let (plot, _) = root.split_horizontally(w as i32 - legend_w);
    let xs: Vec<f64> = s
        .points
        .iter()
        .map(|p| p.x)
        .filter(|x| *x > 0.0 && x.is_finite())
        .collect();
    let (xlo, xhi) = log_range(&xs);
    let ys: Vec<f64> = s.points.iter().map(|p| p.y).collect();
    let ymin = ys.iter().copied().fold(1.0, f64::min);
    let ymax = ys.iter().copied().fold(0.0, f64::max);
    let ylo = (((ymin - 0.01) * 100.0).floor() / 100.0).clamp(0.0, 0.98);
    let yhi = (((ymax + 0.01) * 100.0).ceil() / 100.0).clamp(ylo + 0.02, 1.0);
    let mut chart = ChartBuilder::on(&plot)
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d((xlo..xhi).log_scale(), ylo..yhi)?;
    chart
        .configure_mesh()
        .x_desc(s.x_title.as_str())
        .y_desc(s.y_title.as_str())
        .x_label_formatter(&|v| num(*v))
        .y_label_formatter(&|v| format!("{} %", num(100.0 * v)))
        .label_style((FAMILY, 13.0 * SVG_SIZE).into_font().color(&INK))
        .axis_desc_style((FAMILY, 14.0 * SVG_SIZE).into_font().color(&INK))
        .bold_line_style(GRID)
        .light_line_style(WHITE)
        .draw()?;
    for p in s.points.iter().filter(|p| p.x > 0.0 && p.x.is_finite()) {
        let c = chart.backend_coord(&(p.x, p.y));
        marker(root, c, p.color, p.shape)?;
    }
    let x0 = w as i32 - legend_w + 16;
    let mut y = 30;
    for (i, name) in s.colors.iter().enumerate() {
        marker(root, (x0, y), i, 0)?;
        text(root, &short(name, 30), (x0 + 14, y), 14.0, HPos::Left, &INK)?;
        y += 24;
    }
    y += 10;
    for (i, name) in s.shapes.iter().enumerate() {
        marker(root, (x0, y), usize::MAX, i)?;
        text(root, &short(name, 30), (x0 + 14, y), 14.0, HPos::Left, &INK)?;
        y += 24;
    }
    Ok(())
}

/// Powers of ten around the positive finite values (at least one decade).
fn log_range(xs: &[f64]) -> (f64, f64) {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return (1.0, 10.0);
    }
    let a = lo.log10().floor();
    let b = hi.log10().ceil().max(a + 1.0);
    (10f64.powf(a), 10f64.powf(b))
}

/// A round step (1, 2 or 5 times a power of ten) giving about `n` ticks up to `max`.
fn nice_step(max: f64, n: f64) -> f64 {
    let raw = (max / n).max(f64::MIN_POSITIVE);
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    p * if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    }
}

/// Horizontal stacked bars, one row per layer, legend on top, linear axis below.
fn stacked<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, s: &Stacked) -> DrawResult<DB> {
    let (w, _) = root.dim_in_pixel();
    let (l, r, t, row_h) = (250, 200, 52, 22);
    let plot_w = w as i32 - l - r;
    let mut x = l;
    for (k, name) in s.series.iter().enumerate() {
        if s.rows
            .iter()
            .all(|r| r.parts.get(k).is_none_or(|v| *v <= 0.0))
        {
            continue;
        }
        let c = PALETTE[k % PALETTE.len()];
        root.draw(&Rectangle::new([(x, 14), (x + 12, 26)], c.filled()))?;
        text(root, name, (x + 17, 20), 13.0, HPos::Left, &INK)?;
        x += 17 + text_width(root, name, 13.0) + 18;
    }
    let max = s
        .rows
        .iter()
        .map(|r| r.parts.iter().map(|v| v.max(0.0)).sum::<f64>())
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let step = nice_step(max, 5.0);
    let top = (max / step).ceil() * step;
    let px = |v: f64| l + (v / top * plot_w as f64).round() as i32;
    let bottom = t + row_h * s.rows.len() as i32;
    let mut t_at = 0.0;
    while t_at <= top * (1.0 + 1e-9) {
        let xx = px(t_at);
        root.draw(&PathElement::new(vec![(xx, t - 4), (xx, bottom)], GRID))?;
        text(
            root,
            &tick(t_at, step),
            (xx, bottom + 14),
            12.0,
            HPos::Center,
            &INK,
        )?;
        t_at += step;
    }
    text(
        root,
        &s.unit,
        (l + plot_w / 2, bottom + 34),
        13.0,
        HPos::Center,
        &INK,
    )?;
    for (i, row) in s.rows.iter().enumerate() {
        let y = t + row_h * i as i32;
        let mid = y + row_h / 2;
        text(
            root,
            &short(&row.label, 34),
            (l - 8, mid),
            13.0,
            HPos::Right,
            &INK,
        )?;
        let mut acc = 0.0;
        for (k, v) in row.parts.iter().enumerate() {
            let (a, b) = (px(acc), px(acc + v.max(0.0)));
            if b > a {
                let c = PALETTE[k % PALETTE.len()];
                root.draw(&Rectangle::new(
                    [(a, y + 3), (b, y + row_h - 3)],
                    c.filled(),
                ))?;
            }
            acc += v.max(0.0);
        }
        let total = num(acc);
        let end = px(acc) + 5;
        text(root, &total, (end, mid), 12.0, HPos::Left, &INK)?;
        if !row.note.is_empty() {
            let nx = end + text_width(root, &total, 12.0) + 10;
            text(root, &row.note, (nx, mid), 12.0, HPos::Left, &OVER)?;
        }
    }
    root.draw(&PathElement::new(vec![(l, t - 4), (l, bottom)], INK))?;
    root.draw(&PathElement::new(
        vec![(l, bottom), (l + plot_w, bottom)],
        INK,
    ))?;
    Ok(())
}

/// Horizontal bars on a log axis, one per (profile, model), against a dashed budget line; values
/// in a column on the right so no label crosses a bar or the line.
fn power<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, p: &Power) -> DrawResult<DB> {
    let (w, _) = root.dim_in_pixel();
    let (l, r, t, row_h) = (340, 230, 40, 26);
    let plot_w = w as i32 - l - r;
    let vals: Vec<f64> = p
        .rows
        .iter()
        .map(|r| r.value)
        .chain(p.budget)
        .filter(|v| *v > 0.0 && v.is_finite())
        .collect();
    let (lo, hi) = log_range(&vals);
    let (llo, lhi) = (lo.log10(), hi.log10());
    let px = |v: f64| {
        let f = if v > 0.0 && v.is_finite() {
            ((v.log10() - llo) / (lhi - llo)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        l + (f * plot_w as f64).round() as i32
    };
    let bottom = t + row_h * p.rows.len() as i32;
    let decades = (lhi - llo).round() as i32;
    for d in 0..=decades {
        let v = 10f64.powf(llo + d as f64);
        let xx = px(v);
        root.draw(&PathElement::new(vec![(xx, t), (xx, bottom)], GRID))?;
        text(
            root,
            &tick(v, v),
            (xx, bottom + 14),
            12.0,
            HPos::Center,
            &INK,
        )?;
    }
    text(
        root,
        &p.x_title,
        (l + plot_w / 2, bottom + 36),
        13.0,
        HPos::Center,
        &INK,
    )?;
    let mut group = None;
    for (i, row) in p.rows.iter().enumerate() {
        let y = t + row_h * i as i32;
        let mid = y + row_h / 2;
        if group != Some(&row.group) {
            if group.is_some() {
                root.draw(&PathElement::new(vec![(8, y), (w as i32 - 8, y)], GRID))?;
            }
            text(
                root,
                &short(&row.group, 16),
                (10, mid),
                13.0,
                HPos::Left,
                &INK,
            )?;
        }
        group = Some(&row.group);
        text(
            root,
            &short(&row.label, 30),
            (l - 8, mid),
            13.0,
            HPos::Right,
            &INK,
        )?;
        let color = if row.over { OVER } else { FITS };
        let end = px(row.value).max(l + 1);
        root.draw(&Rectangle::new(
            [(l, y + 4), (end, y + row_h - 4)],
            color.filled(),
        ))?;
        let label = format!("{} {}", num(row.value), p.unit);
        text(root, &label, (l + plot_w + 12, mid), 13.0, HPos::Left, &INK)?;
        if !row.note.is_empty() {
            let nx = l + plot_w + 12 + text_width(root, &label, 13.0) + 8;
            text(root, &row.note, (nx, mid), 13.0, HPos::Left, &color)?;
        }
    }
    root.draw(&PathElement::new(vec![(l, t), (l, bottom)], INK))?;
    root.draw(&PathElement::new(
        vec![(l, bottom), (l + plot_w, bottom)],
        INK,
    ))?;
    if let Some(b) = p.budget {
        let xx = px(b);
        let mut y = t - 6;
        while y < bottom {
            let y1 = (y + 5).min(bottom);
            root.draw(&PathElement::new(
                vec![(xx, y), (xx, y1)],
                INK.stroke_width(2),
            ))?;
            y += 9;
        }
        let label = format!("budget {} {}", num(b), p.unit);
        text(root, &label, (xx, t - 16), 13.0, HPos::Center, &INK)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Chart {
        Chart::Power(Power {
            rows: vec![
                PowerRow {
                    group: "a".into(),
                    label: "float".into(),
                    value: 0.5,
                    over: false,
                    note: String::new(),
                },
                PowerRow {
                    group: "b".into(),
                    label: "int8".into(),
                    value: 40.0,
                    over: true,
                    note: "over".into(),
                },
            ],
            budget: Some(10.0),
            unit: "mW".into(),
            x_title: "mW (log scale)".into(),
        })
    }

    #[test]
    fn png_has_the_chart_size_and_is_deterministic() {
        let c = sample();
        let a = c.png().unwrap();
        assert_eq!(&a[..8], b"\x89PNG\r\n\x1a\n");
        let (w, h) = c.size();
        assert_eq!(u32::from_be_bytes(a[16..20].try_into().unwrap()), w);
        assert_eq!(u32::from_be_bytes(a[20..24].try_into().unwrap()), h);
        assert_eq!(a, c.png().unwrap());
    }

    #[test]
    fn svg_carries_the_labels() {
        let s = sample().svg().unwrap();
        assert!(s.starts_with("<svg"), "{}", &s[..40.min(s.len())]);
        assert!(s.contains("budget 10 mW"));
        assert!(s.contains(">\nint8\n</text>"), "{s}");
    }

    #[test]
    fn nice_steps_are_round() {
        assert_eq!(nice_step(10.0, 5.0), 2.0);
        assert_eq!(nice_step(0.7, 5.0), 0.2);
        assert_eq!(log_range(&[0.3, 40.0]), (0.1, 100.0));
    }
}
