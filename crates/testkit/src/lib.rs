//! Locates the material tests need beyond the repository and says clearly when it is absent.
//!
//! * `../shared` beside the workspace root (or `$MILLIWATT_SHARED`): real models and data.
//! * A Python with `onnxruntime`: `$MILLIWATT_PYTHON`, else `<workspace>/.venv/bin/python`
//!   (created by `.ci/run`).
//!
//! Tests call [`shared_or_skip`] / [`python_or_skip`] and return early on `None`; the message
//! printed names what is missing and how to get it.
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the folder holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("testkit lives at <root>/crates/testkit")
        .to_path_buf()
}

/// The shared folder, if present.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("MILLIWATT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("..").join("shared"));
    dir.join("README.md").is_file().then_some(dir)
}

/// `shared/<rel>` if it exists; otherwise prints a skip message naming it and returns `None`.
pub fn shared_or_skip(test: &str, rel: &str) -> Option<PathBuf> {
    match shared_dir().map(|d| d.join(rel)) {
        Some(p) if p.exists() => Some(p),
        _ => {
            eprintln!(
                "SKIP {test}: needs ../shared/{rel} (the real models and data beside the project \
                 root, or set MILLIWATT_SHARED)"
            );
            None
        }
    }
}

/// A Python interpreter that can `import onnxruntime, onnx, numpy`, if any.
pub fn python() -> Option<PathBuf> {
    let candidates = std::env::var_os("MILLIWATT_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain(std::iter::once(workspace_root().join(".venv/bin/python")));
    for py in candidates {
        let ok = Command::new(&py)
            .args(["-c", "import onnxruntime, onnx, numpy"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return Some(py);
        }
    }
    None
}

/// [`python`], or a printed skip message and `None`.
pub fn python_or_skip(test: &str) -> Option<PathBuf> {
    let py = python();
    if py.is_none() {
        eprintln!(
            "SKIP {test}: needs Python with onnxruntime, onnx and numpy (run .ci/run, or \
             `python3 -m venv .venv && .venv/bin/pip install onnxruntime onnx numpy`, or set \
             MILLIWATT_PYTHON)"
        );
    }
    py
}
