//! Integer weight grids, per-row or group-wise scales, nearest rounding and dequantization.
//!
//! A weight matrix is `[rows, cols]` row-major: one row per output channel, `cols` = the
//! reduction length K (a Conv weight `[Cout, Cin/g, kh, kw]` flattened as `[Cout, Cin/g·kh·kw]`,
//! a MatMul weight `[K, N]` transposed to `[N, K]`).
use super::RoundingError;
use crate::calibrate::{round_half_to_even, MIN_SCALE};

/// The integer values a weight may take; the float weight is `q · scale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Grid {
    /// `q ∈ [min, max]` (symmetric restricted grids: [`Grid::symmetric`]).
    Int { min: i8, max: i8 },
    /// `q ∈ {−1, +1}`: sign × scale (BWN / XNOR-Net); zero maps to +1.
    Binary,
}

impl Grid {
    /// The restricted symmetric grid `[−(2^(bits−1) − 1), 2^(bits−1) − 1]` for 2 ≤ bits ≤ 8
    /// (int8: ±127, int4: ±7, int2: ±1 = ternary), as `calibrate::weight_scales` assumes.
    pub fn symmetric(bits: u8) -> Result<Grid, RoundingError> {
        if !(2..=8).contains(&bits) {
            return Err(RoundingError::Grid(format!(
                "{bits} bits (2..=8, or Grid::Binary)"
            )));
        }
        let max = ((1i16 << (bits - 1)) - 1) as i8;
        Ok(Grid::Int { min: -max, max })
    }

    /// Largest `|q|`.
    pub fn qmax(self) -> f32 {
        match self {
            Grid::Int { min, max } => (min as f32).abs().max(max as f32),
            Grid::Binary => 1.0,
        }
    }

    /// The grid point for `x = w / scale`: `round_half_to_even` then clamp (or the sign).
    pub fn round(self, x: f32) -> i8 {
        match self {
            Grid::Int { min, max } => round_half_to_even(x).clamp(min as f32, max as f32) as i8,
            Grid::Binary => {
                if x < 0.0 {
                    -1
                } else {
                    1
                }
            }
        }
    }

    fn check(self) -> Result<(), RoundingError> {
        match self {
            Grid::Int { min, max } if min > max => {
                Err(RoundingError::Grid(format!("min {min} > max {max}")))
            }
            _ => Ok(()),
        }
    }
}

/// A row-major weight matrix `[rows, cols]`, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct Matrix<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
}

impl<'a> Matrix<'a> {
    /// Checks `data.len() == rows · cols` and that every value is finite.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Result<Matrix<'a>, RoundingError> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(RoundingError::Shape(format!(
                "{} values for a {rows}×{cols} matrix",
                data.len()
            )));
        }
        if data.iter().any(|v| !v.is_finite()) {
            return Err(RoundingError::NonFinite("weight"));
        }
        Ok(Matrix { data, rows, cols })
    }

    pub fn row(&self, r: usize) -> &'a [f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
}

/// How a matrix is quantized: its grid and its scales, one per row (`group: None`) or one per
/// row and group of `group` consecutive columns (`rows · ceil(cols / group)` values, row-major).
#[derive(Clone, Debug, PartialEq)]
pub struct Quantizer {
    pub grid: Grid,
    pub scales: Vec<f32>,
    pub group: Option<usize>,
}

impl Quantizer {
    /// Scales that map each row's (or group's) largest `|w|` to the grid's largest `|q|`
    /// (`max|w| / qmax`, floored at [`MIN_SCALE`]); for [`Grid::Binary`] the mean `|w|`, the
    /// least-squares scale of `sign(w)` (BWN).
    pub fn absmax(w: Matrix, grid: Grid, group: Option<usize>) -> Result<Quantizer, RoundingError> {
        grid.check()?;
        let g = group_len(group, w.cols)?;
        let mut scales = Vec::with_capacity(w.rows * w.cols.div_ceil(g.max(1)));
        for r in 0..w.rows {
            for chunk in w.row(r).chunks(g.max(1)) {
                let s = match grid {
                    Grid::Binary => chunk.iter().map(|v| v.abs()).sum::<f32>() / chunk.len() as f32,
                    Grid::Int { .. } => {
                        chunk.iter().fold(0f32, |m, v| m.max(v.abs())) / grid.qmax()
                    }
                };
                scales.push(s.max(MIN_SCALE));
            }
        }
        Ok(Quantizer {
            grid,
            scales,
            group,
        })
    }

    /// Groups per row.
    pub fn groups_per_row(&self, cols: usize) -> usize {
        match self.group {
            Some(g) if g > 0 => cols.div_ceil(g),
            _ => 1,
        }
    }

    /// The scale of element `(r, c)`.
    pub fn scale(&self, cols: usize, r: usize, c: usize) -> f32 {
        match self.group {
            Some(g) if g > 0 => self.scales[r * cols.div_ceil(g) + c / g],
            _ => self.scales[r],
        }
    }

    /// Checks the scales against a `rows × cols` matrix.
    pub fn check(&self, rows: usize, cols: usize) -> Result<(), RoundingError> {
        self.grid.check()?;
        group_len(self.group, cols)?;
        let want = rows * self.groups_per_row(cols);
        if self.scales.len() != want {
            return Err(RoundingError::Shape(format!(
                "{} scales for {rows} rows of {} groups",
                self.scales.len(),
                self.groups_per_row(cols)
            )));
        }
        if self.scales.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err(RoundingError::NonFinite("scale"));
        }
        Ok(())
    }

    /// The float value of grid point `q` at `(r, c)`.
    pub fn value(&self, cols: usize, r: usize, c: usize, q: i8) -> f32 {
        q as f32 * self.scale(cols, r, c)
    }
}

fn group_len(group: Option<usize>, cols: usize) -> Result<usize, RoundingError> {
    match group {
        None => Ok(cols),
        Some(0) => Err(RoundingError::Shape("group size 0".into())),
        Some(g) => Ok(g),
    }
}

/// Round-to-nearest: `q = grid.round(w / scale)` element by element.
pub fn nearest_quantize(w: Matrix, q: &Quantizer) -> Result<Vec<i8>, RoundingError> {
    q.check(w.rows, w.cols)?;
    let mut out = Vec::with_capacity(w.data.len());
    for r in 0..w.rows {
        for (c, &x) in w.row(r).iter().enumerate() {
            out.push(q.grid.round(x / q.scale(w.cols, r, c)));
        }
    }
    Ok(out)
}

/// The float weights `q · scale` of a quantized `rows × cols` matrix.
pub fn dequantize(
    q: &[i8],
    rows: usize,
    cols: usize,
    quant: &Quantizer,
) -> Result<Vec<f32>, RoundingError> {
    quant.check(rows, cols)?;
    if q.len() != rows * cols {
        return Err(RoundingError::Shape(format!(
            "{} values for a {rows}×{cols} matrix",
            q.len()
        )));
    }
    Ok(q.iter()
        .enumerate()
        .map(|(i, &v)| quant.value(cols, i / cols.max(1), i % cols.max(1), v))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids() {
        assert_eq!(Grid::symmetric(4).unwrap(), Grid::Int { min: -7, max: 7 });
        assert_eq!(
            Grid::symmetric(8).unwrap(),
            Grid::Int {
                min: -127,
                max: 127
            }
        );
        assert_eq!(Grid::symmetric(2).unwrap(), Grid::Int { min: -1, max: 1 });
        assert!(Grid::symmetric(1).is_err() && Grid::symmetric(9).is_err());
        let g = Grid::symmetric(4).unwrap();
        assert_eq!([g.round(2.5), g.round(-3.5), g.round(9.0)], [2, -4, 7]);
        assert_eq!([Grid::Binary.round(0.0), Grid::Binary.round(-0.1)], [1, -1]);
    }

    #[test]
    fn nearest_per_row_and_grouped() {
        let w = [0.7f32, -0.35, 0.1, 0.0, 1.4, -0.2];
        let m = Matrix::new(&w, 2, 3).unwrap();
        let g = Grid::symmetric(4).unwrap();
        let q = Quantizer::absmax(m, g, None).unwrap();
        assert_eq!(q.scales, vec![0.1, 0.2]);
        assert_eq!(nearest_quantize(m, &q).unwrap(), vec![7, -4, 1, 0, 7, -1]);
        let q = Quantizer::absmax(m, g, Some(2)).unwrap();
        assert_eq!(q.scales.len(), 4);
        assert_eq!(q.scale(3, 1, 2), 0.2 / 7.0);
        let d = dequantize(&nearest_quantize(m, &q).unwrap(), 2, 3, &q).unwrap();
        assert!((d[4] - 1.4).abs() < 1e-6);
        let b = Quantizer::absmax(m, Grid::Binary, None).unwrap();
        assert!((b.scales[0] - 0.3833333).abs() < 1e-6);
        assert_eq!(nearest_quantize(m, &b).unwrap(), vec![1, -1, 1, 1, 1, -1]);
    }

    #[test]
    fn refuses_bad_input() {
        assert!(Matrix::new(&[1.0, 2.0], 1, 3).is_err());
        assert!(Matrix::new(&[f32::NAN], 1, 1).is_err());
        let m = Matrix::new(&[1.0, 2.0], 1, 2).unwrap();
        let mut q = Quantizer::absmax(m, Grid::symmetric(4).unwrap(), None).unwrap();
        q.scales.push(1.0);
        assert!(nearest_quantize(m, &q).is_err());
        q.scales = vec![0.0];
        assert!(nearest_quantize(m, &q).is_err());
        assert!(Quantizer::absmax(m, Grid::Int { min: 3, max: 1 }, None).is_err());
        assert!(Quantizer::absmax(m, Grid::Binary, Some(0)).is_err());
    }
}
