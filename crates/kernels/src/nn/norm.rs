//! Inference-mode batch normalization.
use super::{check_len, err, NnError};

/// Per-channel statistics and affine parameters of [`batch_norm`], each `channels` long.
#[derive(Clone, Copy, Debug)]
pub struct BatchNormParams<'a> {
    pub scale: &'a [f32],
    pub bias: &'a [f32],
    pub mean: &'a [f32],
    pub var: &'a [f32],
    pub epsilon: f32,
}

/// `y = (x − mean) / √(var + ε) · scale + bias` per channel over `x [batch, channels, plane]`,
/// computed as `x · s + (bias − mean · s)` with `s = scale / √(var + ε)` (as ONNX Runtime does).
pub fn batch_norm(
    p: &BatchNormParams,
    channels: usize,
    plane: usize,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), NnError> {
    for (name, v) in [
        ("scale", p.scale),
        ("bias", p.bias),
        ("mean", p.mean),
        ("var", p.var),
    ] {
        check_len(name, v.len(), channels)?;
    }
    check_len("batch_norm output", y.len(), x.len())?;
    let per_image = channels.saturating_mul(plane);
    if per_image == 0 {
        return Ok(());
    }
    if !x.len().is_multiple_of(per_image) {
        return err(format!(
            "batch_norm input of {} elements is not a whole number of {channels}x{plane} images",
            x.len()
        ));
    }
    for (xi, yi) in x.chunks_exact(per_image).zip(y.chunks_exact_mut(per_image)) {
        for c in 0..channels {
            let s = p.scale[c] / (p.var[c] + p.epsilon).sqrt();
            let b = p.bias[c] - p.mean[c] * s;
            let xs = &xi[c * plane..][..plane];
            for (o, &v) in yi[c * plane..][..plane].iter_mut().zip(xs) {
                *o = v * s + b;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_each_channel() {
        let p = BatchNormParams {
            scale: &[1.0, 2.0],
            bias: &[0.0, 1.0],
            mean: &[1.0, 0.0],
            var: &[4.0, 1.0],
            epsilon: 0.0,
        };
        let x = [3.0, 5.0, 1.0, -1.0];
        let mut y = [0.0; 4];
        batch_norm(&p, 2, 2, &x, &mut y).unwrap();
        assert_eq!(y, [1.0, 2.0, 3.0, -1.0]);
    }

    #[test]
    fn ragged_input_is_an_error() {
        let one = [0.0f32];
        let p = BatchNormParams {
            scale: &one,
            bias: &one,
            mean: &one,
            var: &one,
            epsilon: 1e-5,
        };
        assert!(batch_norm(&p, 1, 2, &[0.0; 3], &mut [0.0; 3]).is_err());
    }
}
