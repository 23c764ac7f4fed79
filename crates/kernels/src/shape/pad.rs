use super::{gather_axes, ShapeKernelError};

/// How Pad fills positions outside the input (ONNX `mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadMode {
    /// The given constant.
    Constant,
    /// Mirror without repeating the border: `[a b c]` → `c b | a b c | b a`.
    Reflect,
    /// Repeat the border element.
    Edge,
    /// Periodic: `[a b c]` → `b c | a b c | a b`.
    Wrap,
}

/// Index map of one padded axis: output position `o` reads input position `o - begin` mapped by
/// `mode`, or `None` (the constant) in constant mode. Negative `begin`/`end` crop. The output
/// length is `n + begin + end`, which must not be negative; non-constant modes need `n > 0`
/// unless the output is empty. Reflect on a length-1 axis repeats its element.
pub fn pad_map(
    n: usize,
    begin: i64,
    end: i64,
    mode: PadMode,
) -> Result<Vec<Option<usize>>, ShapeKernelError> {
    let out = n as i128 + begin as i128 + end as i128;
    if out < 0 {
        return Err(ShapeKernelError::Invalid(format!(
            "pads ({begin}, {end}) remove more than the axis length {n}"
        )));
    }
    let out = usize::try_from(out).map_err(|_| ShapeKernelError::Overflow)?;
    if out > 0 && n == 0 && mode != PadMode::Constant {
        return Err(ShapeKernelError::Invalid(format!(
            "{mode:?} padding of an empty axis"
        )));
    }
    let n_i = n as i128;
    Ok((0..out)
        .map(|o| {
            let j = o as i128 - begin as i128;
            let src = match mode {
                PadMode::Constant => (0..n_i).contains(&j).then_some(j),
                PadMode::Edge => Some(j.clamp(0, n_i - 1)),
                PadMode::Wrap => Some(j.rem_euclid(n_i)),
                PadMode::Reflect if n == 1 => Some(0),
                PadMode::Reflect => {
                    let period = 2 * (n_i - 1);
                    let m = j.rem_euclid(period);
                    Some(if m >= n_i { period - m } else { m })
                }
            };
            src.map(|s| s as usize)
        })
        .collect())
}

/// Pads (or crops, with negative amounts) every axis of `x`: `begins[k]`/`ends[k]` elements before
/// and after axis `k`, filled according to `mode` (`value` in constant mode).
pub fn pad<T: Copy>(
    x: &[T],
    shape: &[usize],
    begins: &[i64],
    ends: &[i64],
    mode: PadMode,
    value: T,
) -> Result<Vec<T>, ShapeKernelError> {
    if begins.len() != shape.len() || ends.len() != shape.len() {
        return Err(ShapeKernelError::Invalid(format!(
            "pads for {} and {} axes of a rank-{} input",
            begins.len(),
            ends.len(),
            shape.len()
        )));
    }
    let maps = shape
        .iter()
        .zip(begins.iter().zip(ends))
        .map(|(&n, (&b, &e))| pad_map(n, b, e, mode))
        .collect::<Result<Vec<_>, _>>()?;
    gather_axes(x, shape, &maps, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(n: usize, b: i64, e: i64, mode: PadMode) -> Vec<Option<usize>> {
        pad_map(n, b, e, mode).unwrap()
    }

    #[test]
    fn modes_on_one_axis() {
        let s = |v: &[usize]| v.iter().map(|&i| Some(i)).collect::<Vec<_>>();
        assert_eq!(
            map(3, 2, 1, PadMode::Constant),
            [None, None, Some(0), Some(1), Some(2), None]
        );
        assert_eq!(map(3, 2, 2, PadMode::Edge), s(&[0, 0, 0, 1, 2, 2, 2]));
        assert_eq!(map(3, 2, 2, PadMode::Reflect), s(&[2, 1, 0, 1, 2, 1, 0]));
        assert_eq!(map(3, 2, 2, PadMode::Wrap), s(&[1, 2, 0, 1, 2, 0, 1]));
        // Pads larger than the axis keep reflecting / wrapping periodically (as numpy does).
        assert_eq!(map(2, 3, 0, PadMode::Reflect), s(&[1, 0, 1, 0, 1]));
        assert_eq!(map(2, 3, 0, PadMode::Wrap), s(&[1, 0, 1, 0, 1]));
        assert_eq!(map(1, 1, 1, PadMode::Reflect), s(&[0, 0, 0]));
    }

    #[test]
    fn negative_pads_crop() {
        assert_eq!(map(4, -1, -2, PadMode::Constant), [Some(1)]);
        assert_eq!(
            map(4, -1, 1, PadMode::Edge),
            [Some(1), Some(2), Some(3), Some(3)]
        );
        assert!(pad_map(2, -2, -1, PadMode::Constant).is_err());
    }

    #[test]
    fn empty_axis_cannot_be_edge_padded() {
        assert!(pad_map(0, 1, 0, PadMode::Edge).is_err());
        assert_eq!(map(0, 1, 0, PadMode::Constant), [None]);
    }

    #[test]
    fn pad_2d_constant() {
        let x = [1, 2, 3, 4]; // [2, 2]
        let out = pad(&x, &[2, 2], &[1, 0], &[0, 1], PadMode::Constant, 9).unwrap();
        assert_eq!(out, [9, 9, 9, 1, 2, 9, 3, 4, 9]);
    }
}
