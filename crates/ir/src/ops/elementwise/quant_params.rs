//! What QuantizeLinear and DequantizeLinear share: reading `axis`/`block_size` and deciding from
//! the scale's shape whether quantization is per tensor, per axis or blocked.
use crate::op::normalize_axis;
use crate::{Attrs, OpError};
use mw_kernels::elementwise::{QuantGranularity, QuantLayout};

/// The `axis` (default 1) and `block_size` (default 0: not blocked) attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantAxis {
    pub axis: i64,
    pub block_size: i64,
}

impl QuantAxis {
    pub fn from_attrs(attrs: &Attrs) -> Result<QuantAxis, OpError> {
        let block_size = attrs.int_or("block_size", 0)?;
        if block_size < 0 {
            return Err(OpError::Attribute {
                name: "block_size".into(),
                reason: format!("must be >= 0, got {block_size}"),
            });
        }
        Ok(QuantAxis {
            axis: attrs.int_or("axis", 1)?,
            block_size,
        })
    }

    /// The layout of an input of `x_shape` with scales of `scale_shape` and, when given, zero
    /// points of `zp_shape`:
    /// * `block_size > 0`: blocked; the scale has `x`'s rank and shape except
    ///   `ceil(x[axis] / block_size)` along `axis`;
    /// * a one-element scale of rank 0 or 1: per tensor;
    /// * a 1-D scale of length `x[axis]`: per axis.
    pub fn layout(
        &self,
        x_shape: &[usize],
        scale_shape: &[usize],
        zp_shape: Option<&[usize]>,
    ) -> Result<QuantLayout, OpError> {
        if let Some(zs) = zp_shape {
            if zs.iter().product::<usize>() != scale_shape.iter().product::<usize>()
                || (zs.len() > 1 || scale_shape.len() > 1) && zs != scale_shape
            {
                return Err(OpError::Shape(format!(
                    "zero point shape {zs:?} differs from scale shape {scale_shape:?}"
                )));
            }
        }
        let scale_n: usize = scale_shape.iter().product();
        let layout = if self.block_size > 0 {
            let axis = normalize_axis(self.axis, x_shape.len())?;
            let block_size = self.block_size as usize;
            let g = QuantGranularity::Blocked { block_size };
            let want: Vec<usize> = x_shape
                .iter()
                .enumerate()
                .map(|(i, &d)| if i == axis { d.div_ceil(block_size) } else { d })
                .collect();
            if scale_shape != want.as_slice() {
                return Err(OpError::Shape(format!(
                    "blocked scale must have shape {want:?}, has {scale_shape:?}"
                )));
            }
            QuantLayout::of(x_shape, axis, g)
        } else if scale_n == 1 && scale_shape.len() <= 1 {
            QuantLayout::of(x_shape, 0, QuantGranularity::PerTensor)
        } else if scale_shape.len() == 1 {
            let axis = normalize_axis(self.axis, x_shape.len())?;
            if scale_shape[0] != x_shape[axis] {
                return Err(OpError::Shape(format!(
                    "per-axis scale of length {} for axis {axis} of {x_shape:?}",
                    scale_shape[0]
                )));
            }
            QuantLayout::of(x_shape, axis, QuantGranularity::PerAxis)
        } else {
            return Err(OpError::Shape(format!(
                "scale of shape {scale_shape:?} is neither per tensor nor per axis \
                 (blocked quantization needs block_size)"
            )));
        };
        if layout.scale_len().is_none() {
            return Err(OpError::Shape(format!(
                "scale count of {layout:?} overflows"
            )));
        }
        Ok(layout)
    }

    pub fn write(&self, attrs: Attrs) -> Attrs {
        use crate::Attr;
        let attrs = attrs.with("axis", Attr::Int(self.axis));
        if self.block_size > 0 {
            attrs.with("block_size", Attr::Int(self.block_size))
        } else {
            attrs
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Attr;

    fn qa(axis: i64, block_size: i64) -> QuantAxis {
        QuantAxis { axis, block_size }
    }

    #[test]
    fn granularity_follows_the_scale_shape() {
        let g = |l: QuantLayout| l.granularity;
        let x = [2usize, 3, 4];
        assert_eq!(
            g(qa(1, 0).layout(&x, &[], None).unwrap()),
            QuantGranularity::PerTensor
        );
        assert_eq!(
            g(qa(1, 0).layout(&x, &[1], Some(&[1])).unwrap()),
            QuantGranularity::PerTensor
        );
        let l = qa(1, 0).layout(&x, &[3], Some(&[3])).unwrap();
        assert_eq!(
            (l.outer, l.n, l.inner, l.granularity),
            (2, 3, 4, QuantGranularity::PerAxis)
        );
        let l = qa(-1, 3).layout(&x, &[2, 3, 2], None).unwrap();
        assert_eq!(l.granularity, QuantGranularity::Blocked { block_size: 3 });
    }

    #[test]
    fn inconsistent_shapes_are_refused() {
        let x = [2usize, 3, 4];
        assert!(qa(1, 0).layout(&x, &[4], None).is_err());
        assert!(qa(1, 0).layout(&x, &[2, 3], None).is_err());
        assert!(qa(1, 0).layout(&x, &[3], Some(&[1])).is_err());
        assert!(qa(3, 0).layout(&x, &[3], None).is_err());
        assert!(qa(1, 2).layout(&x, &[2, 1, 4], None).is_err());
        let attrs = Attrs::new().with("block_size", Attr::Int(-1));
        assert!(QuantAxis::from_attrs(&attrs).is_err());
    }
}
