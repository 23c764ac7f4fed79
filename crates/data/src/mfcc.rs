//! The MLPerf Tiny keyword-spotting MFCC front end, equal to its TensorFlow recipe:
//!
//! 1. the first [`CLIP_SAMPLES`] samples, zero-padded to that length, as f32, divided by the
//!    clip's maximum sample value (the maximum, not the maximum absolute value);
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
        let signal = normalized_clip(samples);
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
