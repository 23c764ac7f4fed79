//! Calibration methods on synthetic distributions with known answers, streaming, determinism,
//! bounded memory, non-finite values, auto selection and reports.
mod common;

use common::*;
use mw_compress::calibrate::{
    qparams_from_range, report, select_auto, AutoError, CalibError, HistogramObserver, Method,
    MinMaxObserver, Observer, QScheme, DEFAULT_BINS, MIN_SCALE,
};

const METHODS: [Method; 6] = [
    Method::MinMax,
    Method::Percentile(99.99),
    Method::Percentile(99.0),
    Method::Percentile(50.0),
    Method::Entropy,
    Method::Mse,
];
const SCHEMES: [QScheme; 4] = [
    QScheme::INT8_SYMMETRIC,
    QScheme::INT8_ASYMMETRIC,
    QScheme::UINT8_ASYMMETRIC,
    QScheme::UINT8_SYMMETRIC,
];

fn range(obs: &HistogramObserver, m: Method, s: QScheme) -> (f32, f32) {
    obs.range(m, s).unwrap_or_else(|e| panic!("{m} {s:?}: {e}"))
}

fn min_max(data: &[f32]) -> (f32, f32) {
    let finite = data.iter().filter(|x| x.is_finite());
    (
        finite.clone().fold(f32::INFINITY, |a, &b| a.min(b)),
        finite.fold(f32::NEG_INFINITY, |a, &b| a.max(b)),
    )
}

/// Every method and scheme gives an ordered range inside the data with valid parameters.
fn check_invariants(obs: &HistogramObserver, data: &[f32]) {
    let (min, max) = min_max(data);
    for m in METHODS {
        for s in SCHEMES {
            let (lo, hi) = range(obs, m, s);
            assert!(
                min <= lo && lo <= hi && hi <= max,
                "{m} {s:?}: ({lo}, {hi}) vs [{min}, {max}]"
            );
            let qp = qparams_from_range((lo, hi), s).unwrap();
            assert!(qp.scale >= MIN_SCALE && qp.scale.is_finite());
            assert!((s.qmin()..=s.qmax()).contains(&qp.zero_point));
        }
    }
}

/// Smallest empirical MSE over symmetric clipping thresholds `amax * j / steps`.
fn brute_force_symmetric_mse(data: &[f32], scheme: QScheme, steps: usize) -> (f32, f64) {
    let (min, max) = min_max(data);
    let amax = min.abs().max(max.abs());
    (1..=steps)
        .map(|j| {
            let t = amax * j as f32 / steps as f32;
            (t, empirical_mse(data, (-t, t), scheme))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
}

#[test]
fn uniform_known_answers() {
    let data = uniform(200_000, -1.0, 1.0, 1);
    let obs = observe_in_batches(&data, 4096);
    check_invariants(&obs, &data);
    let sym = QScheme::INT8_SYMMETRIC;
    let asym = QScheme::INT8_ASYMMETRIC;
    assert_eq!(range(&obs, Method::MinMax, sym), min_max(&data));
    let (lo, hi) = range(&obs, Method::Percentile(99.0), asym);
    assert!(
        (lo + 0.99).abs() < 3e-3 && (hi - 0.99).abs() < 3e-3,
        "({lo}, {hi})"
    );
    let (lo, hi) = range(&obs, Method::Percentile(99.0), sym);
    assert!((hi - 0.99).abs() < 3e-3 && lo == -hi, "({lo}, {hi})");
    // Nothing to gain from clipping a uniform distribution much.
    for s in [sym, asym] {
        let (lo, hi) = range(&obs, Method::Entropy, s);
        assert!(lo < -0.9 && hi > 0.9, "entropy {s:?}: ({lo}, {hi})");
        let (lo, hi) = range(&obs, Method::Mse, s);
        assert!(lo < -0.97 && hi > 0.97, "mse {s:?}: ({lo}, {hi})");
    }
    let (_, best) = brute_force_symmetric_mse(&data, sym, 200);
    let ours = empirical_mse(&data, range(&obs, Method::Mse, sym), sym);
    assert!(ours <= best * 1.01, "mse {ours} vs brute force {best}");
}

#[test]
fn gaussian_with_outliers_known_answers() {
    let mut data = gaussian(100_000, 0.0, 1.0, 2);
    data.extend_from_slice(&[50.0, -50.0, 48.0, -47.0, 49.0]);
    let obs = observe_in_batches(&data, 10_000);
    check_invariants(&obs, &data);
    let sym = QScheme::INT8_SYMMETRIC;
    assert_eq!(range(&obs, Method::MinMax, sym), (-50.0, 50.0));
    // N(0,1): P(|x| > 3.29) = 0.1 %; with 5e-5 outliers P(|x| > t) = 1e-4 at t ≈ 4.05.
    let (_, t) = range(&obs, Method::Percentile(99.9), sym);
    assert!((t - 3.29).abs() < 0.1, "p99.9 {t}");
    let (_, t) = range(&obs, Method::Percentile(99.99), sym);
    assert!((3.7..4.5).contains(&t), "p99.99 {t}");
    // KL clips the outliers away.
    let (lo, hi) = range(&obs, Method::Entropy, sym);
    assert!(hi > 2.5 && hi < 10.0 && lo == -hi, "entropy ({lo}, {hi})");
    // MSE keeps the outliers at 8 bits: 5·(50 - t)² of clipping outweighs rounding error until
    // t ≈ 45 (d/dt [N (2t/254)²/12 + 5 (50 - t)²] = 0).
    let (_, t) = range(&obs, Method::Mse, sym);
    assert!((40.0..=50.0).contains(&t), "mse int8 {t}");
    let (_, best) = brute_force_symmetric_mse(&data, sym, 500);
    let ours = empirical_mse(&data, (-t, t), sym);
    assert!(ours <= best * 1.02, "mse {ours} vs brute force {best}");
}

#[test]
fn mse_matches_brute_force_at_low_bit_widths() {
    // Clean N(0,1): the MSE-optimal 4-bit clipping is about 2.5σ (Banner et al., ACIQ).
    let data = gaussian(50_000, 0.0, 1.0, 3);
    let obs = observe_in_batches(&data, 5_000);
    for bits in [3u8, 4, 6, 8] {
        let s = QScheme::new(bits, true, true).unwrap();
        let r = range(&obs, Method::Mse, s);
        let (bt, best) = brute_force_symmetric_mse(&data, s, 400);
        let ours = empirical_mse(&data, r, s);
        assert!(
            ours <= best * 1.02,
            "{bits} bits: t {} mse {ours}, brute t {bt} mse {best}",
            r.1
        );
        if bits == 4 {
            assert!((2.2..2.9).contains(&r.1), "4-bit threshold {}", r.1);
        }
    }
    // Asymmetric: better than (or equal to) MinMax on a skewed, heavy-tailed distribution.
    let data: Vec<f32> = laplace(50_000, 1.0, 4)
        .iter()
        .map(|x| x.max(-0.5))
        .collect();
    let obs = observe_in_batches(&data, 5_000);
    for s in [
        QScheme::UINT8_ASYMMETRIC,
        QScheme::new(4, false, false).unwrap(),
    ] {
        let mse = empirical_mse(&data, range(&obs, Method::Mse, s), s);
        let mm = empirical_mse(&data, range(&obs, Method::MinMax, s), s);
        assert!(mse <= mm, "{s:?}: mse {mse} > minmax {mm}");
        if s.bits() == 4 {
            assert!(mse < 0.5 * mm, "4-bit: mse {mse} vs minmax {mm}");
        }
    }
}

#[test]
fn all_zeros() {
    let mut data = vec![0.0f32; 1000];
    data.push(-0.0);
    let obs = observe_in_batches(&data, 100);
    for m in METHODS {
        for s in SCHEMES {
            let r = range(&obs, m, s);
            assert_eq!(r, (0.0, 0.0), "{m} {s:?}");
            let qp = qparams_from_range(r, s).unwrap();
            assert_eq!(qp.scale, MIN_SCALE);
            let q = mw_compress::calibrate::quantize_value(0.0, &qp);
            assert_eq!(mw_compress::calibrate::dequantize_value(q, &qp), 0.0);
        }
    }
}

#[test]
fn single_value() {
    for v in [3.7f32, -2.5, 1e-20] {
        let obs = observe_in_batches(&vec![v; 500], 64);
        for m in METHODS {
            for s in SCHEMES {
                assert_eq!(range(&obs, m, s), (v, v), "{v} {m} {s:?}");
            }
        }
        let qp = qparams_from_range((v, v), QScheme::UINT8_ASYMMETRIC).unwrap();
        let back = mw_compress::calibrate::dequantize_value(
            mw_compress::calibrate::quantize_value(v, &qp),
            &qp,
        );
        assert!((back - v).abs() <= qp.scale / 2.0, "{v} → {back}");
    }
}

#[test]
fn negative_only() {
    let data = uniform(100_000, -5.0, -1.0, 5);
    let obs = observe_in_batches(&data, 7_000);
    check_invariants(&obs, &data);
    let asym = QScheme::UINT8_ASYMMETRIC;
    let (min, max) = min_max(&data);
    assert_eq!(range(&obs, Method::MinMax, asym), (min, max));
    let (lo, hi) = range(&obs, Method::Percentile(99.0), asym);
    assert!(
        (lo + 4.98).abs() < 0.01 && (hi + 1.02).abs() < 0.01,
        "({lo}, {hi})"
    );
    let (lo, hi) = range(&obs, Method::Entropy, asym);
    assert!(lo < -4.5 && hi == max, "entropy ({lo}, {hi})");
    let (lo, hi) = range(&obs, Method::Mse, asym);
    assert!(lo < -4.8 && hi == max, "mse ({lo}, {hi})");
    let qp = qparams_from_range((lo, hi), asym).unwrap();
    assert_eq!(qp.zero_point, 255);
}

#[test]
fn huge_dynamic_range() {
    // |x| log-uniform over 1e-6 .. 1e6, random signs.
    let mut r = Rng::new(6);
    let data: Vec<f32> = (0..50_000)
        .map(|_| {
            let mag = 10f64.powf(-6.0 + 12.0 * r.uniform());
            (if r.uniform() < 0.5 { -mag } else { mag }) as f32
        })
        .collect();
    let obs = observe_in_batches(&data, 3_000);
    check_invariants(&obs, &data);
    // Linear bins are 2^20 / 1024 = 1024 wide here: a percentile is within a bin of the truth.
    let w = obs.histogram().bin_width();
    let mut abs: Vec<f64> = data.iter().map(|x| x.abs() as f64).collect();
    abs.sort_by(f64::total_cmp);
    for p in [50.0, 99.0, 99.9] {
        let (_, t) = range(&obs, Method::Percentile(p), QScheme::INT8_SYMMETRIC);
        let truth = abs[((p / 100.0) * abs.len() as f64) as usize - 1];
        assert!(
            (t as f64 - truth).abs() <= w,
            "p{p}: {t} vs {truth} (bin {w})"
        );
    }
}

#[test]
fn streaming_is_batch_and_order_independent() {
    let mut data = laplace(60_000, 0.7, 7);
    data.extend_from_slice(&[-90.0, 120.0, 1e-9]);
    let one = observe_in_batches(&data, data.len());
    let small = observe_in_batches(&data, 333);
    // Reversed order, growing from the outliers' side first.
    let rev: Vec<f32> = data.iter().rev().copied().collect();
    let reversed = observe_in_batches(&rev, 1_000);
    // Sorted by magnitude: the range widens (bins merge) on almost every batch.
    let mut by_mag = data.clone();
    by_mag.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    let growing = observe_in_batches(&by_mag, 500);
    assert!(
        growing.histogram().merges() > 5,
        "{}",
        growing.histogram().merges()
    );
    // Two observers on disjoint halves, merged.
    let (a, b) = data.split_at(17_001);
    let mut merged = observe_in_batches(a, 4_096);
    merged.merge(&observe_in_batches(b, 4_096)).unwrap();
    for other in [&small, &reversed, &growing, &merged] {
        assert_eq!(other.histogram().counts(), one.histogram().counts());
        for m in METHODS {
            for s in SCHEMES {
                let (x, y) = (range(&one, m, s), range(other, m, s));
                assert_eq!(x.0.to_bits(), y.0.to_bits(), "{m} {s:?}");
                assert_eq!(x.1.to_bits(), y.1.to_bits(), "{m} {s:?}");
            }
        }
    }
    // Determinism: the same observer answers the same twice.
    assert_eq!(
        range(&one, Method::Mse, QScheme::INT8_ASYMMETRIC),
        range(&one, Method::Mse, QScheme::INT8_ASYMMETRIC)
    );
}

#[test]
fn memory_is_bounded() {
    let mut obs = HistogramObserver::default();
    let mut n = 0u64;
    for i in 0..400 {
        let scale = 10f32.powf(i as f32 / 10.0 - 15.0); // 1e-15 .. 1e25
        let batch: Vec<f32> = uniform(257, -scale, scale, i);
        obs.observe(&batch);
        n += 257;
        assert_eq!(obs.histogram().counts().len(), DEFAULT_BINS);
    }
    assert_eq!(obs.histogram().bins(), DEFAULT_BINS);
    assert!(
        obs.histogram().merges() >= 100,
        "{}",
        obs.histogram().merges()
    );
    assert_eq!(obs.histogram().total(), n);
    assert_eq!(obs.stats().finite, n);
    assert!(obs.range(Method::Entropy, QScheme::INT8_SYMMETRIC).is_ok());
}

#[test]
fn non_finite_values_are_counted_and_ignored() {
    let clean = gaussian(20_000, 1.0, 2.0, 8);
    let mut dirty = clean.clone();
    for (i, bad) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::NAN]
        .iter()
        .enumerate()
    {
        dirty.insert(i * 5_000, *bad);
    }
    dirty.push(f32::NAN);
    let a = observe_in_batches(&clean, 1_000);
    let b = observe_in_batches(&dirty, 1_000);
    for m in METHODS {
        for s in SCHEMES {
            assert_eq!(range(&a, m, s), range(&b, m, s), "{m} {s:?}");
        }
    }
    let st = b.stats();
    assert_eq!(
        (st.finite, st.nan, st.pos_inf, st.neg_inf),
        (20_000, 3, 1, 1)
    );
    // Nothing finite at all: no range, a typed error.
    let mut only_bad = HistogramObserver::default();
    only_bad.observe(&[f32::NAN, f32::INFINITY]);
    assert_eq!(
        only_bad.range(Method::MinMax, QScheme::INT8_SYMMETRIC),
        Err(CalibError::NoData)
    );
    assert_eq!(only_bad.stats().non_finite(), 2);
}

#[test]
fn bad_requests_are_typed_errors() {
    let obs = observe_in_batches(&[1.0, 2.0], 2);
    for p in [-1.0, 100.5, f64::NAN] {
        assert!(matches!(
            obs.range(Method::Percentile(p), QScheme::INT8_SYMMETRIC),
            Err(CalibError::Percentile(_))
        ));
    }
    assert_eq!(HistogramObserver::new(7), Err(CalibError::Bins(7)));
    let mut mm = MinMaxObserver::new();
    mm.observe(&[-1.0, f32::NAN, 4.0]);
    assert_eq!(
        mm.range(Method::MinMax, QScheme::INT8_SYMMETRIC),
        Ok((-1.0, 4.0))
    );
    assert_eq!(
        mm.range(Method::Entropy, QScheme::INT8_SYMMETRIC),
        Err(CalibError::Unsupported("entropy"))
    );
    assert_eq!(mm.stats().nan, 1);
}

#[test]
fn auto_picks_the_lowest_error() {
    let mut data = laplace(40_000, 1.0, 9);
    data.extend_from_slice(&[40.0, -35.0]);
    let obs = observe_in_batches(&data, 4_000);
    let s = QScheme::INT8_SYMMETRIC;
    let mut calls = 0;
    let choice = select_auto(&obs, s, &Method::DEFAULT_CANDIDATES, |_, r| {
        calls += 1;
        Ok::<f64, String>(empirical_mse(&data, r, s))
    })
    .unwrap();
    assert_eq!(choice.candidates.len(), 4);
    assert!(calls <= 4);
    let w = choice.winner();
    for c in &choice.candidates {
        assert!(w.error <= c.error, "{:?} beats winner {:?}", c, w);
        assert_eq!(c.range, range(&obs, c.method, s));
    }
    // On SQNR-like errors the winner is rarely MinMax with outliers this far out.
    assert_ne!(w.method, Method::MinMax);

    // NaN errors rank last, ties go to the first listed, identical ranges are scored once.
    let mut calls = 0;
    let choice = select_auto(
        &obs,
        s,
        &[Method::MinMax, Method::Percentile(100.0), Method::Mse],
        |m, _| {
            calls += 1;
            Ok::<f64, ()>(if m == Method::MinMax { f64::NAN } else { 1.0 })
        },
    )
    .unwrap();
    assert_eq!(choice.winner().method, Method::Mse);
    assert_eq!(
        calls, 2,
        "percentile(100) has MinMax's range and reuses its error"
    );
    let err = select_auto(&obs, s, &[Method::Entropy], |_, _| Err("layer failed"));
    assert_eq!(err, Err(AutoError::Callback("layer failed")));
    let none = select_auto(&obs, s, &[], |_, _| Ok::<f64, ()>(0.0));
    assert_eq!(none, Err(AutoError::Calib(CalibError::NoCandidates)));
}

#[test]
fn report_serializes() {
    let mut data = gaussian(5_000, 0.0, 1.0, 10);
    data.push(f32::NAN);
    let obs = observe_in_batches(&data, 1_000);
    let rep = report(
        "conv1_out",
        &obs,
        Method::Percentile(99.9),
        QScheme::INT8_ASYMMETRIC,
    )
    .unwrap();
    let json = serde_json::to_value(&rep).unwrap();
    assert_eq!(json["tensor"], "conv1_out");
    assert_eq!(json["method"]["Percentile"], 99.9);
    assert_eq!(json["stats"]["nan"], 1);
    assert_eq!(json["stats"]["finite"], 5_000);
    assert_eq!(json["histogram"]["bins"], 2048);
    assert_eq!(json["scheme"]["bits"], 8);
    assert!(json["qparams"]["scale"].as_f64().unwrap() > 0.0);
    let p50 = json["histogram"]["abs_p50"].as_f64().unwrap();
    assert!((p50 - 0.674).abs() < 0.05, "median |N(0,1)| {p50}");
    let mm = report(
        "x",
        &MinMaxObserver::new(),
        Method::MinMax,
        QScheme::INT8_SYMMETRIC,
    );
    assert_eq!(mm, Err(CalibError::NoData));
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = f32> {
        prop_oneof![
            8 => -100f32..100.0,
            2 => -1e-30f32..1e-30,
            1 => Just(0.0f32),
            1 => Just(f32::NAN),
            1 => Just(f32::INFINITY),
            1 => Just(f32::NEG_INFINITY),
            1 => prop_oneof![Just(f32::MAX), Just(-f32::MAX), Just(f32::MIN_POSITIVE)],
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Any data, bin count, scheme and method: no panic, an ordered range inside the
        /// observed finite values (or `NoData`), valid parameters, batch independence.
        #[test]
        fn any_input_gives_a_valid_range(
            data in prop::collection::vec(value(), 0..300),
            bins in prop::sample::select(vec![2usize, 4, 10, 64, 256]),
            bits in 2u8..=16,
            signed: bool,
            symmetric: bool,
            batch in 1usize..50,
        ) {
            let s = QScheme::new(bits, signed, symmetric).unwrap();
            let mut obs = HistogramObserver::new(bins).unwrap();
            for c in data.chunks(batch) {
                obs.observe(c);
            }
            let mut whole = HistogramObserver::new(bins).unwrap();
            whole.observe(&data);
            let finite: Vec<f32> = data.iter().copied().filter(|x| x.is_finite()).collect();
            for m in [Method::MinMax, Method::Percentile(99.0), Method::Entropy, Method::Mse] {
                let r = obs.range(m, s);
                prop_assert_eq!(r.clone(), whole.range(m, s));
                if finite.is_empty() {
                    prop_assert_eq!(r, Err(CalibError::NoData));
                    continue;
                }
                let (lo, hi) = r.unwrap();
                let (min, max) = min_max(&finite);
                prop_assert!(min <= lo && lo <= hi && hi <= max, "{} ({}, {})", m, lo, hi);
                let qp = qparams_from_range((lo, hi), s).unwrap();
                prop_assert!(qp.scale.is_finite() && qp.scale >= MIN_SCALE);
                prop_assert!((s.qmin()..=s.qmax()).contains(&qp.zero_point));
            }
        }
    }
}
