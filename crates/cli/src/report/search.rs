//! A mixed-precision search report (`milliwatt quantize --scheme mixed --report FILE`) read back
//! for `milliwatt report --search FILE`: the budget, the explored fronts, the assembled points
//! and the chosen per-layer formats. Reading checks the file's shape and consistency and fails
//! with a [`SearchFileError`] naming the file; nothing here panics on a bad file.
use std::path::{Path, PathBuf};

/// Largest search report read (a real one is well under 1 MiB).
pub const MAX_BYTES: u64 = 64 << 20;

/// Why a search report cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum SearchFileError {
    #[error("reading search report `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("search report `{path}` is {bytes} bytes, more than the {MAX_BYTES} read")]
    TooLarge { path: PathBuf, bytes: u64 },
    #[error(
        "search report `{path}` is not a mixed-precision search report \
         (`milliwatt quantize --scheme mixed --report`): {source}"
    )]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("search report `{path}` is inconsistent: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "search report `{path}` does not match any model of the report: none has layer `{layer}` \
         (give the model the search ran on or the model it wrote)"
    )]
    Mismatch { path: PathBuf, layer: String },
}

pub use mw_compress::mixed::{Budget, Evaluated, FrontPoint, MixedReport, Score};

/// A search report as `quantize --scheme mixed` wrote it ([`MixedReport`], read back with the
/// same serde types), and the file it was read from.
#[derive(Clone, Debug)]
pub struct Search {
    pub report: MixedReport,
    pub path: PathBuf,
}

impl std::ops::Deref for Search {
    type Target = MixedReport;
    fn deref(&self) -> &MixedReport {
        &self.report
    }
}

/// Weight and activation bits of a `w<bits>a<bits>` label.
pub fn bits(label: &str) -> Option<(u32, u32)> {
    let (w, a) = label.strip_prefix('w')?.split_once('a')?;
    Some((w.parse().ok()?, a.parse().ok()?))
}

/// Reads and checks the search report at `path`.
pub fn read(path: &Path) -> Result<Search, SearchFileError> {
    let io = |source| SearchFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::metadata(path).map_err(io)?.len();
    if bytes > MAX_BYTES {
        return Err(SearchFileError::TooLarge {
            path: path.to_path_buf(),
            bytes,
        });
    }
    let text = std::fs::read(path).map_err(io)?;
    let report = serde_json::from_slice(&text).map_err(|source| SearchFileError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    let s = Search {
        report,
        path: path.to_path_buf(),
    };
    check(&s).map_err(|reason| SearchFileError::Invalid {
        path: path.to_path_buf(),
        reason,
    })?;
    Ok(s)
}

/// The consistency `quantize --scheme mixed` guarantees: every format a `w<n>a<n>` label, every
/// point naming exactly the search's layers, every figure finite and not negative.
fn check(s: &Search) -> Result<(), String> {
    if s.scheme != "mixed" {
        return Err(format!("scheme is `{}`, not `mixed`", s.scheme));
    }
    let budget = match s.budget {
        Budget::WeightBytes(v) | Budget::EnergyUj(v) => v,
    };
    figure("budget", budget)?;
    if s.layers.is_empty() {
        return Err("no layers".into());
    }
    let label = |l: &str| {
        bits(l)
            .map(|_| ())
            .ok_or(format!("format `{l}` is not w<n>a<n>"))
    };
    let points = std::iter::once(&s.base)
        .chain(&s.evaluated)
        .chain(s.chosen.as_ref());
    for e in points {
        if e.layers.len() != s.layers.len() || s.layers.iter().any(|l| !e.layers.contains_key(l)) {
            return Err(format!("a `{}` point does not name every layer", e.source));
        }
        e.layers.values().try_for_each(|l| label(l))?;
        figure("weight bytes", e.weight_bytes)?;
        e.energy_uj.map_or(Ok(()), |v| figure("µJ", v))?;
        figure("KL", e.score.kl)?;
        e.score.top1.map_or(Ok(()), |v| fraction("top-1", v))?;
        fraction("agreement", e.score.agreement)?;
    }
    for p in s.bytes_front.iter().chain(&s.energy_front) {
        if p.formats.len() != s.layers.len() {
            return Err(format!(
                "a front point has {} formats for {} layers",
                p.formats.len(),
                s.layers.len()
            ));
        }
        p.formats.iter().try_for_each(|l| label(l))?;
        finite("front resource", p.resource)?;
        finite("front KL", p.kl)?;
    }
    for l in &s.sensitivity {
        for o in &l.options {
            label(&o.format)?;
            finite("Δ bytes", o.delta_weight_bytes)?;
            finite("Δ KL", o.delta_kl)?;
            o.delta_energy_uj.map_or(Ok(()), |v| finite("Δ µJ", v))?;
        }
    }
    Ok(())
}

fn finite(what: &str, v: f64) -> Result<(), String> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(format!("{what} {v} is not finite"))
    }
}

fn figure(what: &str, v: f64) -> Result<(), String> {
    finite(what, v)?;
    if v < 0.0 {
        return Err(format!("{what} {v} is negative"));
    }
    Ok(())
}

fn fraction(what: &str, v: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(format!("{what} {v} is not a fraction"))
    }
}

/// Fails unless some model has every layer of the search (`model_layers`: each model's layer
/// names).
pub fn check_models(s: &Search, model_layers: &[Vec<String>]) -> Result<(), SearchFileError> {
    let missing = |names: &Vec<String>| s.layers.iter().find(|l| !names.contains(l)).cloned();
    let mut first_missing = None;
    for names in model_layers {
        match missing(names) {
            None => return Ok(()),
            Some(l) => {
                first_missing.get_or_insert(l);
            }
        }
    }
    Err(SearchFileError::Mismatch {
        path: s.path.clone(),
        layer: first_missing.unwrap_or_else(|| s.layers[0].clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mw_compress::mixed::{self, Score as MScore};

    fn evaluated(layers: &[&str], source: &str, bytes: f64) -> mixed::Evaluated {
        mixed::Evaluated {
            layers: layers
                .iter()
                .map(|l| (l.to_string(), "w4a8".into()))
                .collect(),
            source: source.into(),
            predicted_weight_bytes: bytes,
            predicted_energy_uj: Some(0.5),
            predicted_kl: 0.01,
            weight_bytes: bytes,
            energy_uj: Some(0.5),
            score: MScore {
                kl: 0.01,
                agreement: 0.98,
                top1: Some(0.9),
            },
            within_budget: true,
        }
    }

    /// A report as `quantize --scheme mixed` serializes it, over `layers`.
    pub fn sample(layers: &[&str]) -> String {
        let e = evaluated(layers, "bytes front", 1000.0);
        let r = mixed::MixedReport {
            scheme: "mixed".into(),
            budget: mixed::Budget::WeightBytes(1200.0),
            profile: Some("horowitz-45nm".into()),
            calibration_examples: 30,
            holdout_examples: 10,
            layers: layers.iter().map(|l| l.to_string()).collect(),
            base: evaluated(layers, "base", 2000.0),
            sensitivity: vec![],
            bytes_front: vec![mixed::FrontPoint {
                resource: 1000.0,
                kl: 0.01,
                formats: vec!["w4a8".into(); layers.len()],
            }],
            energy_front: vec![],
            evaluated: vec![e.clone()],
            chosen: Some(e),
            lowest_reachable: 1000.0,
            seconds: 1.0,
        };
        serde_json::to_string(&r).unwrap()
    }

    fn read_str(tag: &str, text: &str) -> Result<Search, SearchFileError> {
        let p = std::env::temp_dir().join(format!("mw-search-{tag}-{}.json", std::process::id()));
        std::fs::write(&p, text).unwrap();
        let r = read(&p);
        let _ = std::fs::remove_file(&p);
        r
    }

    #[test]
    fn reads_what_the_search_writes() {
        let s = read_str("ok", &sample(&["conv", "fc"])).unwrap();
        assert_eq!(s.budget, Budget::WeightBytes(1200.0));
        assert_eq!(s.chosen.as_ref().unwrap().layers["fc"], "w4a8");
        assert_eq!(bits("w4a16"), Some((4, 16)));
        assert_eq!(bits("int8"), None);
    }

    #[test]
    fn bad_files_are_typed_errors_naming_the_file() {
        let e = read_str("garbage", "{not json").unwrap_err();
        assert!(matches!(e, SearchFileError::Parse { .. }), "{e}");
        assert!(e.to_string().contains("mw-search-garbage"), "{e}");
        let eval = r#"{"model":"m.onnx","top1":0.9}"#;
        assert!(matches!(
            read_str("eval", eval).unwrap_err(),
            SearchFileError::Parse { .. }
        ));
        let short = sample(&["conv", "fc"])
            .replace(r#""formats":["w4a8","w4a8"]"#, r#""formats":["w4a8"]"#);
        let e = read_str("short", &short).unwrap_err();
        assert!(matches!(e, SearchFileError::Invalid { .. }), "{e}");
        let label = sample(&["conv"]).replace("w4a8", "int4");
        assert!(matches!(
            read_str("label", &label).unwrap_err(),
            SearchFileError::Invalid { .. }
        ));
        let missing = std::path::Path::new("/nonexistent/mixed.json");
        let e = read(missing).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/mixed.json"), "{e}");
    }

    #[test]
    fn a_search_must_match_some_model() {
        let s = read_str("match", &sample(&["conv", "fc"])).unwrap();
        let a = vec!["conv".to_string(), "relu".into()];
        let b = vec!["conv".to_string(), "fc".into()];
        assert!(check_models(&s, &[a.clone(), b]).is_ok());
        let e = check_models(&s, &[a]).unwrap_err();
        assert!(e.to_string().contains("`fc`"), "{e}");
    }
}
