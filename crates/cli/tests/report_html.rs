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

/// The weighted layers of the KWS float model, as a mixed-precision search names them.
const KWS_LAYERS: [&str; 10] = [
    "StatefulPartitionedCall/functional_1/conv2d/BiasAdd",
    "Conv__95",
    "StatefulPartitionedCall/functional_1/conv2d_1/BiasAdd",
    "Conv__97",
    "StatefulPartitionedCall/functional_1/conv2d_2/BiasAdd",
    "Conv__99",
    "StatefulPartitionedCall/functional_1/conv2d_3/BiasAdd",
    "Conv__101",
    "StatefulPartitionedCall/functional_1/conv2d_4/BiasAdd",
    "StatefulPartitionedCall/functional_1/dense/MatMul",
];

/// A search report shaped as `quantize --scheme mixed --report` writes it, over `layers`: the
/// last layer at `w4a16` in the chosen point.
fn search_json(layers: &[&str]) -> String {
    let point = |source: &str, last: &str, bytes: f64, uj: f64, kl: f64, top1: f64| {
        let map: serde_json::Map<String, serde_json::Value> = layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let f = if i + 1 == layers.len() { last } else { "w8a8" };
                (l.to_string(), f.into())
            })
            .collect();
        serde_json::json!({"layers": map, "source": source, "predicted_weight_bytes": bytes,
            "predicted_energy_uj": uj, "predicted_kl": kl, "weight_bytes": bytes,
            "energy_uj": uj, "score": {"kl": kl, "agreement": top1, "top1": top1},
            "within_budget": bytes <= 13000.0})
    };
    let base = point("base", "w8a8", 22016.0, 12.6, 0.008, 0.98);
    let chosen = point("bytes front", "w4a16", 12900.0, 11.9, 0.06, 0.95);
    let front = |r: f64, kl: f64| {
        serde_json::json!({"resource": r, "kl": kl,
        "formats": vec!["w4a8"; layers.len()]})
    };
    let option = serde_json::json!({"format": "w4a8", "weight_bits": 4, "activation_bits": 8,
        "delta_weight_bytes": -1280.0, "delta_energy_uj": -0.1, "delta_kl": 0.005,
        "score": {"kl": 0.013, "agreement": 1.0, "top1": 0.99}});
    let sensitivity: Vec<_> = layers
        .iter()
        .map(|l| serde_json::json!({"node": l, "options": [option.clone(), option.clone()]}))
        .collect();
    serde_json::json!({"scheme": "mixed", "budget": {"WeightBytes": 13000.0},
        "profile": "horowitz-45nm", "calibration_examples": 330, "holdout_examples": 110,
        "layers": layers, "base": base.clone(), "sensitivity": sensitivity,
        "bytes_front": [front(3000.0, 7.0), front(13000.0, 0.05), front(22000.0, 0.006)],
        "energy_front": [front(11.2, 7.0), front(11.9, 0.05), front(12.6, 0.006)],
        "evaluated": [base, chosen.clone()], "chosen": chosen, "lowest_reachable": 12900.0,
        "seconds": 1.0})
    .to_string()
}

#[test]
fn report_shows_a_mixed_search_front_and_chosen_formats() {
    let test = "report_shows_a_mixed_search_front_and_chosen_formats";
    let Some(float) = mw_testkit::shared_or_skip(test, "models/mlperf-tiny/kws_dscnn_float32.onnx")
    else {
        return;
    };
    let d = temp_dir("search");
    let search = d.join("mixed.json");
    std::fs::write(&search, search_json(&KWS_LAYERS)).unwrap();
    let run = |page: &Path| {
        milliwatt(&[
            "report",
            s(&float),
            "--hw",
            "horowitz-45nm",
            "--search",
            s(&search),
            "-o",
            s(page),
        ])
    };
    let page = d.join("report.html");
    let out = run(&page);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    for want in [
        "Mixed precision: explored fronts and chosen formats (mixed.json)",
        "budget 13000 weight bytes",
        "Chosen formats per layer",
        "<td>StatefulPartitionedCall/functional_1/dense/MatMul</td><td>w4a16</td><td>4</td><td>16</td>",
        "<td>Conv__95</td><td>w8a8</td><td>8</td><td>8</td>",
        "KL versus bytes",
        "Held-out top-1 versus µJ",
        "budget 13000 B",
    ] {
        assert!(html.contains(want), "missing {want}");
    }
    let figs = figures(&html);
    let front = figs
        .iter()
        .find(|f| f.0 == "report_files/mixed-front.png")
        .unwrap_or_else(|| panic!("no front figure: {figs:?}"));
    let png = std::fs::read(d.join(&front.0)).unwrap();
    assert_eq!(png_size(&png), Some((front.1, front.2)));
    assert_eq!((front.1, front.2), (980, 40 + 2 * 340), "four panels");
    let again = d.join("again.html");
    assert!(run(&again).status.success());
    assert_eq!(
        std::fs::read(d.join("again_files/mixed-front.png")).unwrap(),
        png,
        "same bytes"
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// Runs `report` with `--search FILE` and returns its stderr, checking it failed cleanly and
/// wrote no page.
fn failing_search(d: &Path, model: &str, search_text: &str) -> String {
    let search = d.join("broken_search.json");
    std::fs::write(&search, search_text).unwrap();
    let page = d.join("report.html");
    let out = milliwatt(&[
        "report",
        model,
        "--hw",
        "horowitz-45nm",
        "--search",
        s(&search),
        "-o",
        s(&page),
    ]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success());
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("broken_search.json"), "names the file: {err}");
    assert!(!page.exists());
    err
}

#[test]
fn report_with_malformed_search_names_it() {
    let d = temp_dir("badsearch");
    let err = failing_search(&d, "/nonexistent/model.onnx", "{\"scheme\": \"mixed\", ");
    assert!(err.contains("not a mixed-precision search report"), "{err}");
    let eval = r#"{"model":"m.onnx","top1":0.9}"#;
    failing_search(&d, "/nonexistent/model.onnx", eval);
    let short = search_json(&KWS_LAYERS).replacen("\"w4a8\",", "", 1);
    let err = failing_search(&d, "/nonexistent/model.onnx", &short);
    assert!(err.contains("inconsistent"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn report_with_search_of_another_model_names_it() {
    let test = "report_with_search_of_another_model_names_it";
    let Some(float) = mw_testkit::shared_or_skip(test, "models/mlperf-tiny/kws_dscnn_float32.onnx")
    else {
        return;
    };
    let d = temp_dir("othersearch");
    let err = failing_search(
        &d,
        s(&float),
        &search_json(&["conv_of_another_model", "fc"]),
    );
    assert!(err.contains("`conv_of_another_model`"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}
