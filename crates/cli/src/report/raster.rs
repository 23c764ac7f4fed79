//! The PNG backend: plotters' bitmap backend with its own text rasterizer. plotters' `ab_glyph`
//! text drops each glyph's left side bearing and rounds pen positions, which makes uneven gaps
//! ("1.41 3"); here glyphs are placed at their exact (sub-pixel) pen positions with kerning, from
//! the same embedded DejaVu Sans the layout uses.
use ab_glyph::{point, Font, FontRef, GlyphId, PxScale, ScaleFont};
use plotters::backend::{BitMapBackend, DrawingBackend};
use plotters::style::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};
use plotters_bitmap::BitMapBackendError;

pub struct Raster<'a> {
    inner: BitMapBackend<'a>,
    font: FontRef<'static>,
}

impl<'a> Raster<'a> {
    /// Draws into `rgb` (3 bytes per pixel, row-major, `size` pixels).
    pub fn new(rgb: &'a mut [u8], size: (u32, u32), font: FontRef<'static>) -> Self {
        Raster {
            inner: BitMapBackend::with_buffer(rgb, size),
            font,
        }
    }
}

type R = Result<(), DrawingErrorKind<BitMapBackendError>>;

impl DrawingBackend for Raster<'_> {
    type ErrorType = BitMapBackendError;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }
    fn ensure_prepared(&mut self) -> R {
        self.inner.ensure_prepared()
    }
    fn present(&mut self) -> R {
        self.inner.present()
    }
    fn draw_pixel(&mut self, p: BackendCoord, c: BackendColor) -> R {
        self.inner.draw_pixel(p, c)
    }
    fn draw_line<S: BackendStyle>(&mut self, a: BackendCoord, b: BackendCoord, s: &S) -> R {
        self.inner.draw_line(a, b, s)
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        a: BackendCoord,
        b: BackendCoord,
        s: &S,
        fill: bool,
    ) -> R {
        self.inner.draw_rect(a, b, s, fill)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        s: &S,
    ) -> R {
        self.inner.draw_path(path, s)
    }
    fn draw_circle<S: BackendStyle>(&mut self, c: BackendCoord, r: u32, s: &S, fill: bool) -> R {
        self.inner.draw_circle(c, r, s, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        s: &S,
    ) -> R {
        self.inner.fill_polygon(vert, s)
    }
    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> R {
        self.inner.blit_bitmap(pos, size, src)
    }

    /// Text at `pos` by the style's anchor: horizontally by the advance width, vertically by the
    /// font's ascent and descent (centre = middle of the two), then rotated by its transform.
    fn draw_text<S: BackendTextStyle>(&mut self, text: &str, style: &S, pos: BackendCoord) -> R {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        // The style size is plotters' (1.24 × the em size it gives SVG); PxScale is the height
        // from descent to ascent, so the em size below matches the SVG text.
        let em = style.size() as f32 / 1.24;
        let f = &self.font;
        let px =
            em * (f.ascent_unscaled() - f.descent_unscaled()) / f.units_per_em().unwrap_or(2048.0);
        let font = self.font.as_scaled(PxScale::from(px));
        let (pens, width) = layout(&font, text);
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -width / 2.0,
            HPos::Right => -width,
        };
        let (asc, desc) = (font.ascent(), font.descent());
        let baseline = match anchor.v_pos {
            VPos::Top => asc,
            VPos::Center => (asc + desc) / 2.0,
            VPos::Bottom => desc,
        }
        .round();
        let dx = dx.round();
        let glyphs = pens
            .into_iter()
            .map(|(id, pen)| id.with_scale_and_position(px, point(pen + dx, baseline)));
        let trans = style.transform();
        let (w, h) = self.get_size();
        for g in glyphs {
            let Some(outline) = self.font.outline_glyph(g) else {
                continue;
            };
            let b = outline.px_bounds();
            let mut pixels = Vec::new();
            outline.draw(|gx, gy, cov| pixels.push((gx, gy, cov)));
            for (gx, gy, cov) in pixels {
                if cov <= 0.0 {
                    continue;
                }
                let x = b.min.x as i32 + gx as i32;
                let y = b.min.y as i32 + gy as i32;
                let (x, y) = trans.transform(x, y);
                let (x, y) = (pos.0 + x, pos.1 + y);
                if x >= 0 && y >= 0 && (x as u32) < w && (y as u32) < h {
                    let c = BackendColor {
                        alpha: color.alpha * f64::from(cov.min(1.0)),
                        rgb: color.rgb,
                    };
                    self.inner.draw_pixel((x, y), c)?;
                }
            }
        }
        Ok(())
    }
}

/// Each glyph with its pen position (advances plus kerning), and the total advance width.
fn layout<F: Font>(font: &ab_glyph::PxScaleFont<F>, text: &str) -> (Vec<(GlyphId, f32)>, f32) {
    let mut pens = Vec::new();
    let mut pen = 0.0f32;
    let mut prev = None;
    for ch in text.chars() {
        let id = font.glyph_id(ch);
        if let Some(p) = prev {
            pen += font.kern(p, id);
        }
        pens.push((id, pen));
        pen += font.h_advance(id);
        prev = Some(id);
    }
    (pens, pen)
}
