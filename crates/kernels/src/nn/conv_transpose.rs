//! Transposed convolution (ONNX `ConvTranspose`), any number of spatial dims and groups.
use super::geometry::{next_index, numel};
use super::{check_len, err, NnError};

/// Geometry of a transposed convolution: `x [batch, in_channels, input...]`,
/// `w [in_channels, out_channels / group, kernel...]`, `y [batch, out_channels, output...]`.
/// Input position `i` and tap `t` write output position `i·s + t·d − pads_begin`; writes outside
/// `0..output` are dropped. The caller derives `output` (pads, output_padding, output_shape); a
/// negative `pads_begin` shifts the result towards the end of the output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvTransposeGeometry {
    pub batch: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub group: usize,
    pub input: Vec<usize>,
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads_begin: Vec<isize>,
    pub output: Vec<usize>,
}

impl ConvTransposeGeometry {
    fn check_buffers(
        &self,
        x: usize,
        w: usize,
        bias: Option<usize>,
        y: usize,
    ) -> Result<(), NnError> {
        let r = self.input.len();
        let same_rank = [&self.kernel, &self.strides, &self.dilations, &self.output]
            .iter()
            .all(|v| v.len() == r)
            && self.pads_begin.len() == r;
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
        let too_big = || NnError("conv_transpose sizes overflow".into());
        let pads_fit = self
            .pads_begin
            .iter()
            .all(|p| p.unsigned_abs() < isize::MAX as usize / 2);
        if !pads_fit
            || !super::geometry::reach_fits(
                &self.input,
                &self.strides,
                &self.kernel,
                &self.dilations,
            )
        {
            return Err(too_big());
        }
        let count = |dims: &[usize], a: usize, b: usize| {
            numel(dims)
                .and_then(|n| n.checked_mul(a))
                .and_then(|n| n.checked_mul(b))
                .ok_or_else(too_big)
        };
        check_len(
            "conv_transpose input",
            x,
            count(&self.input, self.batch, self.in_channels)?,
        )?;
        let cog = self.out_channels / self.group;
        check_len(
            "conv_transpose weight",
            w,
            count(&self.kernel, self.in_channels, cog)?,
        )?;
        if let Some(b) = bias {
            check_len("conv_transpose bias", b, self.out_channels)?;
        }
        check_len(
            "conv_transpose output",
            y,
            count(&self.output, self.batch, self.out_channels)?,
        )
    }
}

/// ONNX `ConvTranspose` on f32: `y[n, oc, i·s + t·d − pb] += x[n, ic, i] · w[ic, oc mod cog, t]`
/// over the input channels `ic` of `oc`'s group, plus `bias[oc]`.
pub fn conv_transpose(
    g: &ConvTransposeGeometry,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) -> Result<(), NnError> {
    g.check_buffers(x.len(), w.len(), bias.map(<[f32]>::len), y.len())?;
    let rank = g.input.len();
    let cig = g.in_channels / g.group;
    let cog = g.out_channels / g.group;
    let in_plane = numel(&g.input).unwrap_or(0);
    let out_plane = numel(&g.output).unwrap_or(0);
    let k_plane = numel(&g.kernel).unwrap_or(0);
    for (i, v) in y.iter_mut().enumerate() {
        *v = bias.map_or(0.0, |b| b[(i / out_plane.max(1)) % g.out_channels]);
    }
    if in_plane == 0 || k_plane == 0 {
        return Ok(());
    }
    for n in 0..g.batch {
        for ic in 0..g.in_channels {
            let grp = ic / cig;
            let plane = &x[(n * g.in_channels + ic) * in_plane..][..in_plane];
            let mut pos = vec![0usize; rank];
            for &xv in plane {
                for ocg in 0..cog {
                    let oc = grp * cog + ocg;
                    let filter = &w[(ic * cog + ocg) * k_plane..][..k_plane];
                    let yp = &mut y[(n * g.out_channels + oc) * out_plane..][..out_plane];
                    scatter(g, &pos, xv, filter, yp);
                }
                next_index(&mut pos, &g.input);
            }
        }
    }
    Ok(())
}

/// Adds `xv · filter[t]` to every output position input `pos` reaches through tap `t`.
fn scatter(g: &ConvTransposeGeometry, pos: &[usize], xv: f32, filter: &[f32], yp: &mut [f32]) {
    let rank = pos.len();
    let mut t = vec![0usize; rank];
    for &wv in filter {
        let mut offset = Some(0usize);
        for d in 0..rank {
            let o = (pos[d] * g.strides[d] + t[d] * g.dilations[d]) as isize - g.pads_begin[d];
            offset = match offset {
                Some(acc) if o >= 0 && (o as usize) < g.output[d] => {
                    Some(acc * g.output[d] + o as usize)
                }
                _ => None,
            };
        }
        if let Some(off) = offset {
            yp[off] += xv * wv;
        }
        next_index(&mut t, &g.kernel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry_1d(
        input: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
        output: usize,
    ) -> ConvTransposeGeometry {
        ConvTransposeGeometry {
            batch: 1,
            in_channels: 1,
            out_channels: 1,
            group: 1,
            input: vec![input],
            kernel: vec![kernel],
            strides: vec![stride],
            dilations: vec![1],
            pads_begin: vec![pad as isize],
            output: vec![output],
        }
    }

    #[test]
    fn stride_two_spreads_the_kernel() {
        // x = [1, 2], w = [1, 10, 100], stride 2: y = [1, 10, 102, 20, 200].
        let g = geometry_1d(2, 3, 2, 0, 5);
        let mut y = vec![0.0; 5];
        conv_transpose(&g, &[1.0, 2.0], &[1.0, 10.0, 100.0], None, &mut y).unwrap();
        assert_eq!(y, vec![1.0, 10.0, 102.0, 20.0, 200.0]);
    }

    #[test]
    fn pads_crop_and_bias_adds() {
        let g = geometry_1d(2, 3, 2, 1, 3);
        let mut y = vec![0.0; 3];
        conv_transpose(&g, &[1.0, 2.0], &[1.0, 10.0, 100.0], Some(&[0.5]), &mut y).unwrap();
        assert_eq!(y, vec![10.5, 102.5, 20.5]);
    }

    #[test]
    fn groups_keep_channels_apart() {
        let g = ConvTransposeGeometry {
            in_channels: 2,
            out_channels: 2,
            group: 2,
            ..geometry_1d(1, 1, 1, 0, 1)
        };
        let mut y = vec![0.0; 2];
        conv_transpose(&g, &[3.0, 5.0], &[2.0, 7.0], None, &mut y).unwrap();
        assert_eq!(y, vec![6.0, 35.0]);
    }

    #[test]
    fn wrong_weight_length_is_an_error() {
        let g = geometry_1d(2, 3, 2, 0, 5);
        let mut y = vec![0.0; 5];
        assert!(conv_transpose(&g, &[1.0, 2.0], &[1.0], None, &mut y).is_err());
    }
}
