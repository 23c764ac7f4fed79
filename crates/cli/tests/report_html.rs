//! `milliwatt report`: one self-contained HTML file with inline SVG naming each model, a PNG of
//! every plot in `<stem>_files/` (valid, the size of its SVG, referenced by the page), all written
//! atomically (no temporary files left) and deterministically, and errors naming a bad profile
//! file.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn milliwatt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_milliwatt"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mw-report-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const EVAL: &str = r#"{"model":"kws_dscnn_float32.onnx","top1":0.91,
  "per_class":[{"label":"yes","correct":9,"total":10,"accuracy":0.9},
               {"label":"_silence_","correct":10,"total":10,"accuracy":1.0}]}"#;

fn report_args<'a>(float: &'a Path, int8: &'a Path, eval: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "report",
        s(float),
        s(int8),
        "--hw",
        "horowitz-45nm",
        "--hw",
        "ndp120",
        "--eval",
        s(eval),
        "--rate",
        "10/s",
        "--budget",
        "10mW",
        "-o",
        s(out),
    ]
}

/// `(width, height)` from a PNG's signature and IHDR chunk, or None if it is not a PNG.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    let h = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
    Some((w, h))
}

/// Each figure's PNG link with the width and height of the inline SVG it mirrors.
fn figures(html: &str) -> Vec<(String, u32, u32)> {
    let attr = |tag: &str, name: &str| -> u32 {
        let k = format!(" {name}=\"");
        let i = tag.find(&k).expect("svg has the attribute") + k.len();
        tag[i..].split('"').next().unwrap().parse().unwrap()
    };
    html.split("<figure>")
        .skip(1)
        .map(|f| {
            let tag = &f[..f.find('>').unwrap()];
            assert!(tag.starts_with("<svg"), "figure starts with its svg: {tag}");
            let href = f.split("<a href=\"").nth(1).expect("figure links its PNG");
            let href = href[..href.find('"').unwrap()].to_string();
            (href, attr(tag, "width"), attr(tag, "height"))
        })
        .collect()
}

fn listing(d: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn report_is_self_contained_and_names_each_model() {
    let Some(dir) = mw_testkit::shared_or_skip(
        "report_is_self_contained_and_names_each_model",
        "models/mlperf-tiny/kws_dscnn_int8_qdq.onnx",
    ) else {
        return;
    };
    let dir = dir.parent().unwrap();
    let float = dir.join("kws_dscnn_float32.onnx");
    let int8 = dir.join("kws_dscnn_int8_qdq.onnx");
    let d = temp_dir("ok");
    let eval = d.join("float_eval.json");
    std::fs::write(&eval, EVAL).unwrap();
    let out_path = d.join("report.html");
    let out = milliwatt(&report_args(&float, &int8, &eval, &out_path));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&out_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    for name in [
        "kws_dscnn_float32 (fp32)",
        "kws_dscnn_int8_qdq (int8)",
        "horowitz-45nm",
        "ndp120",
        "_silence_",
        "Key figures",
        "resident in SRAM versus streamed from DRAM",
        "Moving data",
        "against a 10 mW budget",
    ] {
        assert!(html.contains(name), "missing {name}");
    }
    // Self-contained: no external fetches (the PNG links are relative, beside the page).
    for bad in [
        "src=\"http",
        "href=\"http",
        "<link",
        "<script",
        "url(",
        "<img",
    ] {
        assert!(!html.contains(bad), "external reference {bad}");
    }
    // Plots: accuracy vs energy, power vs budget, 2 profiles × 2 models of per-layer bars; each
    // inline and as a PNG of the same size, named by the page and by the command's output.
    let figs = figures(&html);
    assert_eq!(figs.len(), 1 + 1 + 4, "{figs:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for (href, w, h) in &figs {
        assert!(href.starts_with("report_files/"), "{href}");
        let png = d.join(href);
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{href}: {e}"));
        assert_eq!(png_size(&bytes), Some((*w, *h)), "{href}");
        assert!(stdout.contains(s(&png)), "output names {href}: {stdout}");
    }
    assert_eq!(
        listing(&d),
        ["float_eval.json", "report.html", "report_files"]
    );
    let mut pngs: Vec<String> = figs
        .iter()
        .map(|f| f.0.trim_start_matches("report_files/").to_string())
        .collect();
    pngs.sort();
    assert_eq!(listing(&d.join("report_files")), pngs, "no temp files");
    // Deterministic: the same inputs give the same bytes, page and PNGs alike.
    let again = d.join("again.html");
    let out = milliwatt(&report_args(&float, &int8, &eval, &again));
    assert!(out.status.success());
    let again_html = std::fs::read_to_string(&again).unwrap();
    assert_eq!(again_html, html.replace("report_files", "again_files"));
    for p in &pngs {
        assert_eq!(
            std::fs::read(d.join("again_files").join(p)).unwrap(),
            std::fs::read(d.join("report_files").join(p)).unwrap(),
            "{p}"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn report_with_bad_hw_file_names_it_and_writes_nothing() {
    let d = temp_dir("badhw");
    let hw = d.join("broken_profile.toml");
    std::fs::write(&hw, "this is [not toml").unwrap();
    let out_path = d.join("report.html");
    let out = milliwatt(&[
        "report",
        "/nonexistent/model.onnx",
        "--hw",
        s(&hw),
        "-o",
        s(&out_path),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken_profile.toml"), "{err}");
    assert!(!out_path.exists());
    let _ = std::fs::remove_dir_all(&d);
}

/// The longest run of consecutive pixels of `rgb` (±3 per channel) in any row of an RGB(A) image.
fn longest_run(img: &[u8], width: usize, channels: usize, rgb: [u8; 3]) -> usize {
    let mut best = 0;
    for row in img.chunks(width * channels) {
        let mut run = 0;
        for px in row.chunks(channels) {
            if (0..3).all(|c| px[c].abs_diff(rgb[c]) <= 3) {
                run += 1;
                best = best.max(run);
            } else {
                run = 0;
            }
        }
    }
    best
}

/// Renders the page in headless Chromium (tools/screenshot.sh) and checks the inline power chart
/// shows: a bar is a long run of the "fits" green no text can make. Skips without Chromium (not
/// installed by tools/setup.sh).
#[test]
fn report_renders_in_chromium() {
    let test = "report_renders_in_chromium";
    let has_chromium = ["chromium", "chromium-browser"].iter().any(|b| {
        Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !has_chromium {
        println!("SKIP {test}: needs chromium (Debian: apt-get install chromium)");
        return;
    }
    let Some(dir) = mw_testkit::shared_or_skip(test, "models/mlperf-tiny/kws_dscnn_int8_qdq.onnx")
    else {
        return;
    };
    let dir = dir.parent().unwrap();
    let d = temp_dir("chromium");
    let eval = d.join("float_eval.json");
    std::fs::write(&eval, EVAL).unwrap();
    let page = d.join("report.html");
    let out = milliwatt(&report_args(
        &dir.join("kws_dscnn_float32.onnx"),
        &dir.join("kws_dscnn_int8_qdq.onnx"),
        &eval,
        &page,
    ));
    assert!(out.status.success());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/screenshot.sh");
    let shot = d.join("shot.png");
    let out = Command::new("bash")
        .args([s(&script), s(&page), s(&shot), "1200", "2600"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut img = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut img).unwrap();
    assert_eq!((info.width, info.height), (1200, 2600));
    let channels = info.color_type.samples();
    let run = longest_run(&img, info.width as usize, channels, [0, 140, 70]);
    assert!(
        run >= 40,
        "no power bar in the screenshot (longest green run {run})"
    );
    let _ = std::fs::remove_dir_all(&d);
}
