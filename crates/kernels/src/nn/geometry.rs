//! Geometries of sliding-window kernels: sizes, strides, dilations and pads per spatial dim.
use super::{check_len, err, NnError};

/// Number of elements of `dims`; `None` on overflow.
pub fn numel(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Output length of a sliding window along one dim (floor rounding):
/// `(input + pad_begin + pad_end - ((kernel - 1) * dilation + 1)) / stride + 1`.
/// `None` when the window does not fit the padded input once, or on overflow.
pub fn conv_output_len(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad_begin: usize,
    pad_end: usize,
) -> Option<usize> {
    if kernel == 0 || stride == 0 || dilation == 0 {
        return None;
    }
    let window = (kernel - 1).checked_mul(dilation)?.checked_add(1)?;
    let padded = input.checked_add(pad_begin)?.checked_add(pad_end)?;
    let room = padded.checked_sub(window)?;
    Some(room / stride + 1)
}

/// Geometry of a convolution: `x [batch, in_channels, input...]`,
/// `w [out_channels, in_channels / group, kernel...]`, `y [batch, out_channels, output...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub group: usize,
    pub input: Vec<usize>,
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads_begin: Vec<usize>,
    pub pads_end: Vec<usize>,
}

impl ConvGeometry {
    /// Checks consistency and returns the output spatial dims.
    pub fn output(&self) -> Result<Vec<usize>, NnError> {
        let r = self.input.len();
        let same_rank = [
            &self.kernel,
            &self.strides,
            &self.dilations,
            &self.pads_begin,
            &self.pads_end,
        ]
        .iter()
        .all(|v| v.len() == r);
        if r == 0 || !same_rank {
            return err(format!("inconsistent spatial ranks in {self:?}"));
        }
        if self.group == 0
            || !self.in_channels.is_multiple_of(self.group)
            || !self.out_channels.is_multiple_of(self.group)
        {
            return err(format!(
                "group {} must divide in_channels {} and out_channels {}",
                self.group, self.in_channels, self.out_channels
            ));
        }
        (0..r)
            .map(|i| {
                conv_output_len(
                    self.input[i],
                    self.kernel[i],
                    self.strides[i],
                    self.dilations[i],
                    self.pads_begin[i],
                    self.pads_end[i],
                )
                .ok_or_else(|| {
                    NnError(format!(
                        "window of dim {i} does not fit: input {}, kernel {}, stride {}, \
                         dilation {}, pads {}+{}",
                        self.input[i],
                        self.kernel[i],
                        self.strides[i],
                        self.dilations[i],
                        self.pads_begin[i],
                        self.pads_end[i]
                    ))
                })
            })
            .collect()
    }

    /// Elements of one group's filter: `in_channels / group · prod(kernel)`.
    pub fn filter_len(&self) -> Option<usize> {
        numel(&self.kernel)?.checked_mul(self.in_channels / self.group.max(1))
    }

    /// Checks the geometry and the buffer lengths; returns the output spatial dims.
    pub(crate) fn check_buffers(
        &self,
        x: usize,
        w: usize,
        bias: Option<usize>,
        y: usize,
    ) -> Result<Vec<usize>, NnError> {
        let out = self.output()?;
        let too_big = || NnError("conv sizes overflow".into());
        let nx = numel(&self.input)
            .and_then(|n| n.checked_mul(self.in_channels))
            .and_then(|n| n.checked_mul(self.batch))
            .ok_or_else(too_big)?;
        let nw = self
            .filter_len()
            .and_then(|n| n.checked_mul(self.out_channels))
            .ok_or_else(too_big)?;
        let ny = numel(&out)
            .and_then(|n| n.checked_mul(self.out_channels))
            .and_then(|n| n.checked_mul(self.batch))
            .ok_or_else(too_big)?;
        check_len("conv input", x, nx)?;
        check_len("conv weight", w, nw)?;
        if let Some(b) = bias {
            check_len("conv bias", b, self.out_channels)?;
        }
        check_len("conv output", y, ny)?;
        Ok(out)
    }
}

/// Geometry of a pooling window over `x [batch, channels, input...]` producing
/// `y [batch, channels, output...]`: window `o` covers input positions `o·s − pads_begin + t·d`
/// for taps `t < kernel`. The output dims are given (the caller decides the rounding); windows
/// reaching past the input only cover the positions inside it. Pads may be negative (a negative
/// begin pad shifts the windows forward); `pads_end` only bounds which taps count as padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    pub batch: usize,
    pub channels: usize,
    pub input: Vec<usize>,
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads_begin: Vec<isize>,
    pub pads_end: Vec<isize>,
    pub output: Vec<usize>,
}

impl PoolGeometry {
    /// Checks consistency and buffer lengths; returns `(input plane, output plane)` sizes.
    pub(crate) fn check_buffers(&self, x: usize, y: usize) -> Result<(usize, usize), NnError> {
        let r = self.input.len();
        let same_rank = [&self.kernel, &self.strides, &self.dilations, &self.output]
            .iter()
            .all(|v| v.len() == r)
            && self.pads_begin.len() == r
            && self.pads_end.len() == r;
        if r == 0 || !same_rank {
            return err(format!("inconsistent spatial ranks in {self:?}"));
        }
        let positive = |v: &[usize]| v.iter().all(|&d| d > 0);
        if !positive(&self.kernel) || !positive(&self.strides) || !positive(&self.dilations) {
            return err("pool kernel, strides and dilations must be positive");
        }
        let too_big = || NnError("pool sizes overflow".into());
        let pads_fit = (self.pads_begin.iter().chain(&self.pads_end))
            .all(|p| p.unsigned_abs() < isize::MAX as usize / 4);
        if !pads_fit || !reach_fits(&self.output, &self.strides, &self.kernel, &self.dilations) {
            return Err(too_big());
        }
        let planes = self.batch.checked_mul(self.channels).ok_or_else(too_big)?;
        let in_plane = numel(&self.input).ok_or_else(too_big)?;
        let out_plane = numel(&self.output).ok_or_else(too_big)?;
        let nx = in_plane.checked_mul(planes).ok_or_else(too_big)?;
        let ny = out_plane.checked_mul(planes).ok_or_else(too_big)?;
        check_len("pool input", x, nx)?;
        check_len("pool output", y, ny)?;
        Ok((in_plane, out_plane))
    }

    /// Input coordinate of the first tap of output index `o` along `dim` (negative inside the
    /// begin padding).
    pub(crate) fn window_start(&self, dim: usize, o: usize) -> isize {
        (o * self.strides[dim]) as isize - self.pads_begin[dim]
    }
}

/// Whether `(n − 1)·stride + (kernel − 1)·dilation` stays below `isize::MAX` in every dim (the
/// farthest coordinate a window of the `n`-th position reaches).
pub(crate) fn reach_fits(n: &[usize], strides: &[usize], kernel: &[usize], dil: &[usize]) -> bool {
    (0..n.len()).all(|d| {
        n[d].saturating_sub(1)
            .checked_mul(strides[d])
            .zip(kernel[d].saturating_sub(1).checked_mul(dil[d]))
            .and_then(|(a, b)| a.checked_add(b))
            .is_some_and(|r| r < isize::MAX as usize / 2)
    })
}

/// Steps `idx` through all indices below `dims` in row-major order; returns `false` after the last.
pub(crate) fn next_index(idx: &mut [usize], dims: &[usize]) -> bool {
    for d in (0..idx.len()).rev() {
        idx[d] += 1;
        if idx[d] < dims[d] {
            return true;
        }
        idx[d] = 0;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_len_follows_the_floor_formula() {
        assert_eq!(conv_output_len(5, 3, 1, 1, 0, 0), Some(3));
        assert_eq!(conv_output_len(5, 3, 2, 1, 1, 1), Some(3));
        assert_eq!(conv_output_len(7, 3, 2, 2, 0, 0), Some(2));
        assert_eq!(conv_output_len(2, 3, 1, 1, 0, 0), None);
        assert_eq!(conv_output_len(49, 10, 2, 1, 4, 5), Some(25));
        assert_eq!(conv_output_len(4, usize::MAX, 1, 2, 0, 0), None);
    }

    #[test]
    fn next_index_walks_row_major() {
        let dims = [2, 3];
        let mut idx = [0, 0];
        let mut seen = vec![idx.to_vec()];
        while next_index(&mut idx, &dims) {
            seen.push(idx.to_vec());
        }
        assert_eq!(seen.len(), 6);
        assert_eq!(seen[3], vec![1, 0]);
    }

    #[test]
    fn group_must_divide_channels() {
        let g = ConvGeometry {
            batch: 1,
            in_channels: 3,
            out_channels: 4,
            group: 2,
            input: vec![4],
            kernel: vec![1],
            strides: vec![1],
            dilations: vec![1],
            pads_begin: vec![0],
            pads_end: vec![0],
        };
        assert!(g.output().is_err());
    }
}
