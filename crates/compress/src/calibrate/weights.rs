//! Symmetric weight scales, per tensor or per output channel.
use mw_tensor::Tensor;

use super::qparams::qparams_from_range;
use super::{CalibError, QScheme};

/// Symmetric signed scales for weight tensor `w` on the restricted grid
/// `[-(2^(bits-1) - 1), 2^(bits-1) - 1]` (int8: `[-127, 127]`, zero point 0):
/// `scale = max|w| / qmax` over the whole tensor (`axis = None`, one scale) or over each slice
/// along `axis` (per output channel: one scale per index of `axis`, e.g. axis 0 of a Conv weight
/// `[M, C/g, kH, kW]`, axis 1 of a MatMul weight `[K, N]`).
///
/// All-zero tensors or channels get [`super::MIN_SCALE`]. Weights must be f32 and finite.
pub fn weight_scales(w: &Tensor, axis: Option<usize>, bits: u8) -> Result<Vec<f32>, CalibError> {
    let scheme = QScheme::new(bits, true, true)?;
    let data = w
        .as_slice::<f32>()
        .map_err(|_| CalibError::DType(w.dtype()))?;
    let bad = data.iter().filter(|x| !x.is_finite()).count();
    if bad > 0 {
        return Err(CalibError::NonFiniteWeights(bad));
    }
    let amax = match axis {
        None => vec![data.iter().fold(0f32, |m, x| m.max(x.abs()))],
        Some(axis) => per_channel_amax(data, w.shape(), axis)?,
    };
    amax.into_iter()
        .map(|a| qparams_from_range((-a, a), scheme).map(|qp| qp.scale))
        .collect()
}

/// `max |x|` over each index of `axis` of a row-major tensor of `shape`.
fn per_channel_amax(data: &[f32], shape: &[usize], axis: usize) -> Result<Vec<f32>, CalibError> {
    if axis >= shape.len() {
        return Err(CalibError::Axis {
            axis,
            rank: shape.len(),
        });
    }
    let channels = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let mut amax = vec![0f32; channels];
    if inner == 0 || channels == 0 {
        return Ok(amax);
    }
    for (i, chunk) in data.chunks(inner).enumerate() {
        let c = i % channels;
        amax[c] = chunk.iter().fold(amax[c], |m, x| m.max(x.abs()));
    }
    Ok(amax)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::MIN_SCALE;

    #[test]
    fn per_tensor_and_per_channel() {
        // Shape [2, 3]: rows are output channels for axis 0, columns for axis 1.
        let w = Tensor::from_vec(vec![2, 3], vec![1.0f32, -2.54, 0.5, 0.0, 0.0, -0.0]).unwrap();
        assert_eq!(weight_scales(&w, None, 8).unwrap(), vec![2.54 / 127.0]);
        assert_eq!(
            weight_scales(&w, Some(0), 8).unwrap(),
            vec![2.54 / 127.0, MIN_SCALE]
        );
        assert_eq!(
            weight_scales(&w, Some(1), 8).unwrap(),
            vec![1.0 / 127.0, 2.54 / 127.0, 0.5 / 127.0]
        );
        assert_eq!(weight_scales(&w, Some(0), 4).unwrap()[0], 2.54 / 7.0);
    }

    #[test]
    fn middle_axis_of_a_rank4_tensor() {
        // [2, 3, 1, 2]: channel c of axis 1 holds value 10*c + ... in every outer slice.
        let mut v = Vec::new();
        for o in 0..2 {
            for c in 0..3 {
                for k in 0..2 {
                    v.push(-((c * 10 + o * 3 + k) as f32));
                }
            }
        }
        let w = Tensor::from_vec(vec![2, 3, 1, 2], v).unwrap();
        let s = weight_scales(&w, Some(1), 8).unwrap();
        assert_eq!(s, vec![4.0 / 127.0, 14.0 / 127.0, 24.0 / 127.0]);
    }

    #[test]
    fn refuses_bad_input() {
        let w = Tensor::from_vec(vec![2], vec![1.0f32, f32::NAN]).unwrap();
        assert_eq!(
            weight_scales(&w, None, 8),
            Err(CalibError::NonFiniteWeights(1))
        );
        let w = Tensor::from_vec(vec![2], vec![1.0f32, 2.0]).unwrap();
        assert_eq!(
            weight_scales(&w, Some(1), 8),
            Err(CalibError::Axis { axis: 1, rank: 1 })
        );
        assert_eq!(weight_scales(&w, None, 1), Err(CalibError::Bits(1)));
        let w = Tensor::from_vec(vec![2], vec![1i32, 2]).unwrap();
        assert!(matches!(
            weight_scales(&w, None, 8),
            Err(CalibError::DType(_))
        ));
        let w = Tensor::from_vec(vec![0, 4], Vec::<f32>::new()).unwrap();
        assert_eq!(weight_scales(&w, Some(1), 8).unwrap(), vec![MIN_SCALE; 4]);
    }
}
