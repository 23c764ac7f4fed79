//! The MLPerf Tiny keyword-spotting MFCC front end, equal to its TensorFlow recipe:
//!
//! 1. the first [`CLIP_SAMPLES`] samples as f32, divided by their maximum (the maximum, not the
//!    maximum absolute value; no clipping to [-1, 1]), zero-padded to [`CLIP_SAMPLES`];
//! 2. `tf.signal.stft`: 480-sample periodic Hann window, hop 320, FFT 512, no centre or end
//!    padding (49 frames, 257 bins); magnitude;
//! 3. `tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 20, 4000)` (HTK mel, DC bin zeroed,
//!    triangles on the mel scale of the bin frequencies);
//! 4. `log(x + 1e-6)`;
//! 5. `tf.signal.mfccs_from_log_mel_spectrograms`: unnormalized DCT-II times `1/sqrt(2·40)`;
//!    the first [`NUM_COEFFS`] coefficients.
//!
//! Output: [`NUM_FRAMES`] × [`NUM_COEFFS`] f32, frame-major (the model's `[1,49,10,1]` input).
//!
//! A clip whose maximum is 0 makes TensorFlow divide by zero (NaN features). Here such a clip is
//! left unscaled instead, so an all-zero clip gets the finite features TensorFlow gives any
//! all-zero frame. A negative maximum divides as in TensorFlow (the magnitudes are sign-blind).
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

/// Samples per clip (one second at 16 kHz).
pub const CLIP_SAMPLES: usize = 16_000;
/// STFT frame length (30 ms).
pub const FRAME_LENGTH: usize = 480;
/// STFT hop (20 ms).
pub const FRAME_STEP: usize = 320;
/// FFT size: the next power of two of the frame length.
pub const FFT_LENGTH: usize = 512;
/// Spectrogram bins of one frame.
pub const NUM_BINS: usize = FFT_LENGTH / 2 + 1;
/// Frames per clip: `1 + (16000 - 480) / 320`.
pub const NUM_FRAMES: usize = 1 + (CLIP_SAMPLES - FRAME_LENGTH) / FRAME_STEP;
/// Mel bands.
pub const NUM_MEL_BINS: usize = 40;
/// MFCC coefficients kept per frame.
pub const NUM_COEFFS: usize = 10;
/// Features per clip.
pub const NUM_FEATURES: usize = NUM_FRAMES * NUM_COEFFS;

const SAMPLE_RATE_HZ: f64 = 16_000.0;
const LOWER_EDGE_HZ: f64 = 20.0;
const UPPER_EDGE_HZ: f64 = 4_000.0;
const LOG_OFFSET: f32 = 1e-6;

/// One triangular mel band: its weights over bins `first..first + weights.len()`.
#[derive(Clone, Debug)]
struct MelBand {
    first: usize,
    weights: Vec<f32>,
}

/// The front end with its window, mel filterbank, DCT matrix and FFT plan computed once.
/// Shareable across threads; [`MfccFrontEnd::compute_into`] is deterministic.
#[derive(Clone)]
pub struct MfccFrontEnd {
    window: Vec<f32>,
    mel: Vec<MelBand>,
    /// The spectrogram bins with a non-zero weight in some band.
    bins: std::ops::Range<usize>,
    /// `dct[m * NUM_COEFFS + k]`: weight of log-mel band `m` in coefficient `k`.
    dct: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl std::fmt::Debug for MfccFrontEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfccFrontEnd").finish_non_exhaustive()
    }
}

impl Default for MfccFrontEnd {
    fn default() -> Self {
        Self::new()
    }
}

impl MfccFrontEnd {
    pub fn new() -> MfccFrontEnd {
        let mel = mel_bands();
        let first = mel.iter().map(|b| b.first).min().unwrap_or(0);
        let end = mel
            .iter()
            .map(|b| b.first + b.weights.len())
            .max()
            .unwrap_or(0);
        MfccFrontEnd {
            window: hann_window(FRAME_LENGTH),
            bins: first..end,
            mel,
            dct: dct_matrix(),
            fft: RealFftPlanner::<f32>::new().plan_fft_forward(FFT_LENGTH),
        }
    }

    /// Features of one clip, `[NUM_FRAMES * NUM_COEFFS]` frame-major.
    pub fn compute(&self, samples: &[i16]) -> Vec<f32> {
        let mut out = vec![0.0; NUM_FEATURES];
        self.compute_into(samples, &mut out);
        out
    }

    /// Writes the features of one clip into `out[..NUM_FEATURES]`.
    ///
    /// Panics if `out` is shorter than [`NUM_FEATURES`] (a caller bug, not a data condition).
    pub fn compute_into(&self, samples: &[i16], out: &mut [f32]) {
        self.signal_features(&normalized_clip(samples), out);
    }

    /// Steps 2–5 on a normalized, padded clip of [`CLIP_SAMPLES`] values.
    fn signal_features(&self, signal: &[f32], out: &mut [f32]) {
        let mut frame = vec![0f32; FFT_LENGTH];
        let mut spectrum = vec![Complex::new(0f32, 0f32); NUM_BINS];
        let mut scratch = vec![Complex::new(0f32, 0f32); self.fft.get_scratch_len()];
        let mut magnitude = [0f32; NUM_BINS];
        let mut log_mel = [0f32; NUM_MEL_BINS];
        for (t, coeffs) in out[..NUM_FEATURES].chunks_exact_mut(NUM_COEFFS).enumerate() {
            let start = t * FRAME_STEP;
            let src = &signal[start..start + FRAME_LENGTH];
            for ((d, &s), &w) in frame.iter_mut().zip(src).zip(&self.window) {
                *d = s * w;
            }
            frame[FRAME_LENGTH..].fill(0.0);
            self.fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                .expect("buffer lengths come from the plan");
            // Only the bins some mel band covers; sqrt(re² + im²) is within an ulp of
            // hypot at these magnitudes (≤ 480) and several times faster.
            for (m, c) in magnitude[self.bins.clone()]
                .iter_mut()
                .zip(&spectrum[self.bins.clone()])
            {
                *m = (c.re * c.re + c.im * c.im).sqrt();
            }
            for (lm, band) in log_mel.iter_mut().zip(&self.mel) {
                let bins = &magnitude[band.first..band.first + band.weights.len()];
                let energy: f32 = bins.iter().zip(&band.weights).map(|(a, b)| a * b).sum();
                *lm = (energy + LOG_OFFSET).ln();
            }
            coeffs.fill(0.0);
            for (&lm, row) in log_mel.iter().zip(self.dct.chunks_exact(NUM_COEFFS)) {
                for (c, &w) in coeffs.iter_mut().zip(row) {
                    *c += lm * w;
                }
            }
        }
    }
}

/// The first [`CLIP_SAMPLES`] samples as f32 divided by their maximum (the padding zeros do not
/// take part, as TensorFlow divides before padding), zero-padded to [`CLIP_SAMPLES`]. Left
/// unscaled when that maximum is 0 (see the module documentation).
fn normalized_clip(samples: &[i16]) -> Vec<f32> {
    let clip = &samples[..samples.len().min(CLIP_SAMPLES)];
    let max = clip.iter().copied().max().unwrap_or(0);
    let scale = if max == 0 { 1.0 } else { f32::from(max) };
    let mut signal = vec![0f32; CLIP_SAMPLES];
    for (d, &s) in signal.iter_mut().zip(clip) {
        *d = f32::from(s) / scale;
    }
    signal
}

/// `tf.signal.hann_window(n, periodic=True)`.
fn hann_window(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let arg = 2.0 * std::f64::consts::PI * i as f64 / n as f64;
            (0.5 - 0.5 * arg.cos()) as f32
        })
        .collect()
}

/// HTK mel scale, as TensorFlow's `_hertz_to_mel`.
fn hertz_to_mel(hz: f64) -> f64 {
    1127.0 * (hz / 700.0).ln_1p()
}

/// The non-zero part of each column of `tf.signal.linear_to_mel_weight_matrix(40, 257, 16000,
/// 20, 4000)`: bin frequencies `linspace(0, 8000, 257)`, the DC bin weighted 0, band edges evenly
/// spaced in mel, weights `max(0, min(lower slope, upper slope))` computed in mel.
fn mel_bands() -> Vec<MelBand> {
    let nyquist = SAMPLE_RATE_HZ / 2.0;
    let bin_mel: Vec<f64> = (0..NUM_BINS)
        .map(|i| hertz_to_mel(nyquist * i as f64 / (NUM_BINS - 1) as f64))
        .collect();
    let (lo, hi) = (hertz_to_mel(LOWER_EDGE_HZ), hertz_to_mel(UPPER_EDGE_HZ));
    let edge = |j: usize| lo + (hi - lo) * j as f64 / (NUM_MEL_BINS + 1) as f64;
    (0..NUM_MEL_BINS)
        .map(|b| {
            let (left, center, right) = (edge(b), edge(b + 1), edge(b + 2));
            // Bin 0 (DC) is excluded, as TensorFlow zeroes that row.
            let dense: Vec<f32> = bin_mel
                .iter()
                .enumerate()
                .map(|(i, &m)| {
                    let up = (m - left) / (center - left);
                    let down = (right - m) / (right - center);
                    if i == 0 {
                        0.0
                    } else {
                        up.min(down).max(0.0) as f32
                    }
                })
                .collect();
            let first = dense.iter().position(|&w| w != 0.0).unwrap_or(0);
            let last = dense
                .iter()
                .rposition(|&w| w != 0.0)
                .map_or(first, |l| l + 1);
            MelBand {
                first,
                weights: dense[first..last].to_vec(),
            }
        })
        .collect()
}

/// `dct(type=2)` (unnormalized: `2·Σ x_n cos(πk(2n+1)/2N)`) times `1/sqrt(2N)`, first
/// [`NUM_COEFFS`] columns, as `[NUM_MEL_BINS][NUM_COEFFS]`.
fn dct_matrix() -> Vec<f32> {
    let n = NUM_MEL_BINS as f64;
    let scale = 2.0 / (2.0 * n).sqrt();
    let mut m = Vec::with_capacity(NUM_MEL_BINS * NUM_COEFFS);
    for band in 0..NUM_MEL_BINS {
        for k in 0..NUM_COEFFS {
            let arg = std::f64::consts::PI * k as f64 * (2 * band + 1) as f64 / (2.0 * n);
            m.push((scale * arg.cos()) as f32);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every coefficient of a clip of zeros: the DCT of a constant `ln(1e-6)` log-mel frame.
    fn silent_frame() -> Vec<f32> {
        let c0 = (2.0 / (2.0 * NUM_MEL_BINS as f64).sqrt()) * NUM_MEL_BINS as f64 * 1e-6f64.ln();
        let mut frame = vec![0.0; NUM_COEFFS];
        frame[0] = c0 as f32;
        frame
    }

    fn tone(len: usize) -> Vec<i16> {
        (0..len)
            .map(|i| {
                let t = i as f64 / 16_000.0;
                (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin() + 500.0 * (i % 7) as f64)
                    as i16
            })
            .collect()
    }

    fn assert_close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol, "element {i}: {x} vs {y}");
        }
    }

    #[test]
    fn front_end_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<MfccFrontEnd>();
    }

    #[test]
    fn shapes_follow_the_tensorflow_recipe() {
        assert_eq!(NUM_FRAMES, 49);
        assert_eq!(NUM_BINS, 257);
        assert_eq!(NUM_FEATURES, 490);
    }

    #[test]
    fn all_zero_clip_gives_the_finite_silent_frame_everywhere() {
        let front = MfccFrontEnd::new();
        let out = front.compute(&[0; CLIP_SAMPLES]);
        let expected: Vec<f32> = silent_frame().repeat(NUM_FRAMES);
        assert_close(&out, &expected, 1e-4);
        assert!((out[0] + 123.5697).abs() < 1e-3, "{}", out[0]);
        // An empty clip is zero-padded to the same thing.
        assert_close(&front.compute(&[]), &expected, 1e-4);
    }

    #[test]
    fn short_clips_are_zero_padded_and_long_ones_cut() {
        let front = MfccFrontEnd::new();
        let short = tone(12_345);
        let mut padded = short.clone();
        padded.resize(CLIP_SAMPLES, 0);
        assert_eq!(front.compute(&short), front.compute(&padded));
        let long = tone(20_000);
        assert_eq!(front.compute(&long), front.compute(&long[..CLIP_SAMPLES]));
        // Frames wholly inside the padding are silent.
        let tail = &front.compute(&tone(1_000))[(NUM_FRAMES - 1) * NUM_COEFFS..];
        assert_close(tail, &silent_frame(), 1e-4);
    }

    #[test]
    fn scaling_divides_by_the_maximum_not_the_maximum_magnitude() {
        let front = MfccFrontEnd::new();
        let clip = tone(CLIP_SAMPLES);
        // Doubling every sample doubles the maximum: identical normalized signal.
        let doubled: Vec<i16> = clip.iter().map(|&s| s.saturating_mul(2)).collect();
        let max = *clip.iter().max().unwrap();
        assert!(doubled.iter().all(|&s| s.unsigned_abs() < 32767) && max < 16_000);
        assert_close(&front.compute(&clip), &front.compute(&doubled), 1e-4);
        // A clip whose most negative sample exceeds its maximum in magnitude is still divided by
        // its maximum, so the normalized signal leaves [-1, 1] (TensorFlow does not clip it).
        let mut spiky = clip.clone();
        spiky[100] = -30_000;
        let normalized = normalized_clip(&spiky);
        assert_eq!(normalized[100], -30_000.0 / f32::from(max));
        assert!(normalized[100] < -1.0);
        assert_eq!(normalized.iter().copied().fold(f32::MIN, f32::max), 1.0);
    }

    #[test]
    fn negative_maximum_divides_like_tensorflow() {
        // All samples negative: TensorFlow divides by the (negative) maximum, flipping the sign,
        // which the magnitude spectrum does not see.
        let clip: Vec<i16> = tone(CLIP_SAMPLES).iter().map(|&s| s / 4 - 10_000).collect();
        let max = *clip.iter().max().unwrap();
        assert!(max < 0);
        assert_eq!(
            normalized_clip(&clip)[0],
            f32::from(clip[0]) / f32::from(max)
        );
        let front = MfccFrontEnd::new();
        let out = front.compute(&clip);
        assert!(out.iter().all(|x| x.is_finite()));
        // Negating the normalized signal changes no magnitude, bit for bit.
        let flipped: Vec<f32> = normalized_clip(&clip).iter().map(|&x| -x).collect();
        let mut by_abs_max = vec![0.0; NUM_FEATURES];
        front.signal_features(&flipped, &mut by_abs_max);
        assert_eq!(out, by_abs_max);
    }

    #[test]
    fn mel_bands_follow_tensorflow_construction() {
        let bands = mel_bands();
        assert_eq!(bands.len(), NUM_MEL_BINS);
        let mut prev_first = 0;
        for band in &bands {
            assert!(band.first >= 1, "DC bin must carry no weight");
            assert!(band.first >= prev_first);
            prev_first = band.first;
            assert!(band.weights.iter().all(|&w| (0.0..=1.0).contains(&w)));
            assert!(!band.weights.is_empty());
        }
        // The first band rises from 20 Hz: bins are 31.25 Hz apart, so bin 1 (31.25 Hz) is its
        // first; the last band ends below 4 kHz (bin 128).
        assert_eq!(bands[0].first, 1);
        let last = bands.last().unwrap();
        assert!(last.first + last.weights.len() <= 128);
        // Between two centres, adjacent triangles sum to 1 (they are linear in mel).
        let weight = |b: &MelBand, bin: usize| {
            bin.checked_sub(b.first)
                .and_then(|i| b.weights.get(i))
                .copied()
                .unwrap_or(0.0)
        };
        for bin in 20..60 {
            let total: f32 = bands.iter().map(|b| weight(b, bin)).sum();
            assert!((total - 1.0).abs() < 1e-5, "bin {bin}: {total}");
        }
    }

    #[test]
    fn dct_is_tensorflow_scaled_dct_ii() {
        let dct = &dct_matrix();
        let column = |k: usize| (0..NUM_MEL_BINS).map(move |m| f64::from(dct[m * NUM_COEFFS + k]));
        // sqrt(2/N)·cos: column 0 is the constant 1/sqrt(20), norm sqrt(2); others have norm 1.
        let norm0: f64 = column(0).map(|x| x * x).sum();
        assert!((norm0 - 2.0).abs() < 1e-5, "{norm0}");
        for k in 1..NUM_COEFFS {
            let norm: f64 = column(k).map(|x| x * x).sum();
            assert!((norm - 1.0).abs() < 1e-5, "column {k}: {norm}");
            let dot: f64 = column(k).zip(column(k - 1)).map(|(a, b)| a * b).sum();
            assert!(dot.abs() < 1e-5);
        }
    }

    #[test]
    fn hann_window_is_periodic() {
        let w = hann_window(FRAME_LENGTH);
        assert_eq!(w[0], 0.0);
        assert!((w[FRAME_LENGTH / 2] - 1.0).abs() < 1e-7);
        // Periodic: symmetric about n/2 with w[1] == w[n-1] (no repeated end zero).
        assert!((w[1] - w[FRAME_LENGTH - 1]).abs() < 1e-7);
    }
}
