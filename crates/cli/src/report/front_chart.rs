//! The mixed-precision front plot: a grid of panels (x = a cost, y = an accuracy figure), each
//! with every explored point, the front as a line, the budget as a dashed line and the chosen
//! point marked; one legend above the grid. Drawn by [`super::charts::Chart`] onto either backend.
use super::charts::{text, PALETTE};
use super::text::{num, tick};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::HPos;

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Look {
    /// Small grey dots (single-layer probes).
    Probe,
    /// Points joined by a line in x order (a front).
    Line,
    /// Filled markers (measured points).
    Marker,
    /// A large ringed marker (the chosen point).
    Chosen,
    /// A black square (the all-base-format point).
    Base,
}

pub struct Series {
    pub name: String,
    pub look: Look,
    /// Palette index for `Line` and `Marker`.
    pub color: usize,
    pub points: Vec<(f64, f64)>,
}

pub struct Panel {
    pub title: String,
    pub x_title: String,
    pub y_title: String,
    /// Log-scale y (for KL, which spans decades); points with y ≤ 0 are then left out.
    pub log_y: bool,
    /// Format y ticks as percentages (for an accuracy in [0, 1]).
    pub percent_y: bool,
    pub series: Vec<Series>,
    /// A vertical dashed line at this x, labelled.
    pub budget: Option<(f64, String)>,
}

pub struct Front {
    /// Panels row by row, `columns` per row.
    pub panels: Vec<Panel>,
    pub columns: usize,
}

const LEGEND_H: i32 = 40;
const PANEL_H: u32 = 340;
const GREY: RGBColor = RGBColor(170, 170, 170);
const INK: RGBColor = RGBColor(34, 34, 34);
const GRID: RGBColor = RGBColor(225, 225, 225);
const CHOSEN: RGBColor = RGBColor(200, 30, 30);

impl Front {
    pub fn size(&self) -> (u32, u32) {
        let rows = self.panels.len().div_ceil(self.columns.max(1)) as u32;
        (980, LEGEND_H as u32 + rows * PANEL_H)
    }
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

pub fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, f: &Front) -> DrawResult<DB> {
    legend(root, f)?;
    let (w, _) = root.dim_in_pixel();
    let cols = f.columns.max(1);
    let pw = w as i32 / cols as i32;
    for (i, p) in f.panels.iter().enumerate() {
        let (r, c) = ((i / cols) as i32, (i % cols) as i32);
        let x0 = c * pw;
        let y0 = LEGEND_H + r * PANEL_H as i32;
        let area = root.clone().shrink((x0, y0), (pw as u32, PANEL_H));
        panel(root, &area, (x0, y0), p)?;
    }
    Ok(())
}

/// One entry per distinct series name, in first-seen order.
fn legend<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, f: &Front) -> DrawResult<DB> {
    let mut seen: Vec<&Series> = Vec::new();
    for s in f.panels.iter().flat_map(|p| &p.series) {
        if !seen.iter().any(|t| t.name == s.name) {
            seen.push(s);
        }
    }
    let mut x = 20;
    for s in seen {
        symbol(root, (x, LEGEND_H / 2), s)?;
        text(
            root,
            &s.name,
            (x + 12, LEGEND_H / 2),
            13.0,
            HPos::Left,
            &INK,
        )?;
        x += 12 + super::charts::text_width(root, &s.name, 13.0) + 26;
    }
    Ok(())
}

/// The series' symbol centred at `c` (a short line for a front).
fn symbol<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: (i32, i32),
    s: &Series,
) -> DrawResult<DB> {
    let (x, y) = c;
    let color = PALETTE[s.color % PALETTE.len()];
    match s.look {
        Look::Probe => root.draw(&Circle::new(c, 2, GREY.filled())),
        Look::Line => {
            root.draw(&PathElement::new(
                vec![(x - 8, y), (x + 8, y)],
                color.stroke_width(2),
            ))?;
            root.draw(&Circle::new(c, 2, color.filled()))
        }
        Look::Marker => root.draw(&Circle::new(c, 4, color.filled())),
        Look::Chosen => {
            root.draw(&Circle::new(c, 8, CHOSEN.stroke_width(2)))?;
            root.draw(&Circle::new(c, 3, CHOSEN.filled()))
        }
        Look::Base => root.draw(&Rectangle::new(
            [(x - 4, y - 4), (x + 4, y + 4)],
            INK.filled(),
        )),
    }
}

/// Lower and upper axis ends around `vs` (positive values only when `log`), with a margin.
fn range(vs: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (lo, hi) = vs
        .filter(|v| v.is_finite() && (!log || *v > 0.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return if log { (1e-3, 1.0) } else { (0.0, 1.0) };
    }
    if log {
        let (a, b) = (lo.log10(), hi.log10());
        let pad = ((b - a) * 0.05).max(0.05);
        (10f64.powf(a - pad), 10f64.powf(b + pad))
    } else {
        let pad = ((hi - lo) * 0.06).max(hi.abs() * 0.01).max(1e-9);
        (lo - pad, hi + pad)
    }
}

fn panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    at: (i32, i32),
    p: &Panel,
) -> DrawResult<DB> {
    let pts = || p.series.iter().flat_map(|s| s.points.iter().copied());
    let (xlo, xhi) = range(
        pts().map(|q| q.0).chain(p.budget.as_ref().map(|b| b.0)),
        false,
    );
    let (ylo, yhi) = range(pts().map(|q| q.1), p.log_y);
    text(
        root,
        &p.title,
        (at.0 + 80, at.1 + 14),
        14.0,
        HPos::Left,
        &INK,
    )?;
    let mut b = ChartBuilder::on(area);
    b.margin_top(28)
        .margin_right(18)
        .margin_left(6)
        .margin_bottom(6)
        .x_label_area_size(44)
        .y_label_area_size(70);
    let label_style = ("sans-serif", 12.0 * 1.24).into_font().color(&INK);
    let desc_style = ("sans-serif", 13.0 * 1.24).into_font().color(&INK);
    let pct = |v: &f64| format!("{} %", num(100.0 * v));
    let plain = |v: &f64| num(*v);
    let decade = |v: &f64| tick(*v, *v);
    let y_fmt: &dyn Fn(&f64) -> String = match (p.percent_y, p.log_y) {
        (true, _) => &pct,
        (false, true) => &decade,
        (false, false) => &plain,
    };
    // The same mesh on either y scale; `project` maps (x, y) to backend pixels.
    macro_rules! build {
        ($y:expr) => {{
            let mut chart = b.build_cartesian_2d(xlo..xhi, $y)?;
            chart
                .configure_mesh()
                .x_desc(p.x_title.as_str())
                .y_desc(p.y_title.as_str())
                .x_labels(6)
                .x_label_formatter(&plain)
                .y_label_formatter(&y_fmt)
                .label_style(label_style)
                .axis_desc_style(desc_style)
                .bold_line_style(GRID)
                .light_line_style(WHITE)
                .draw()?;
            Box::new(move |q: (f64, f64)| chart.backend_coord(&q))
                as Box<dyn Fn((f64, f64)) -> (i32, i32)>
        }};
    }
    let project = if p.log_y {
        build!((ylo..yhi).log_scale())
    } else {
        build!(ylo..yhi)
    };
    let visible = |q: &(f64, f64)| q.0.is_finite() && q.1.is_finite() && (!p.log_y || q.1 > 0.0);
    if let Some((bx, label)) = &p.budget {
        let (x, top) = project((*bx, yhi));
        let (_, bottom) = project((*bx, ylo));
        let mut y = top;
        while y < bottom {
            root.draw(&PathElement::new(
                vec![(x, y), (x, (y + 5).min(bottom))],
                INK.stroke_width(2),
            ))?;
            y += 9;
        }
        text(root, label, (x - 6, bottom - 10), 12.0, HPos::Right, &INK)?;
    }
    for look in [
        Look::Probe,
        Look::Line,
        Look::Marker,
        Look::Base,
        Look::Chosen,
    ] {
        for s in p.series.iter().filter(|s| s.look == look) {
            let mut px: Vec<(i32, i32)> = s
                .points
                .iter()
                .filter(|q| visible(q))
                .map(|q| project(*q))
                .collect();
            if look == Look::Line {
                px.sort();
                let color = PALETTE[s.color % PALETTE.len()];
                root.draw(&PathElement::new(px.clone(), color.stroke_width(2)))?;
            }
            for c in px {
                if look == Look::Line {
                    let color = PALETTE[s.color % PALETTE.len()];
                    root.draw(&Circle::new(c, 2, color.filled()))?;
                } else {
                    symbol(root, c, s)?;
                }
            }
        }
    }
    Ok(())
}
