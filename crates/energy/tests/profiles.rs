//! Built-in profiles parse and validate; bad files fail with errors naming the file and field.
use mw_energy::profile::ArithOp;
use mw_energy::{Precision, Profile, ProfileError};

#[test]
fn every_builtin_parses_and_cites_every_figure() {
    for name in Profile::builtin_names() {
        let p = Profile::builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.name, name);
        let figures = p.figures();
        assert!(figures.len() > 20, "{name} lists {} figures", figures.len());
        for (path, f) in figures {
            assert!(!f.source.trim().is_empty(), "{name}.{path} has no source");
            assert!(
                !f.estimated || f.derivation.is_some(),
                "{name}.{path}: estimated without derivation"
            );
        }
    }
}

#[test]
fn horowitz_figures_are_the_papers_and_widths_follow_the_rule() {
    let p = Profile::builtin("horowitz-45nm").unwrap();
    let a = &p.units[0].arith;
    let e = |op, s: &str| a.energy(op, s.parse::<Precision>().unwrap()).unwrap();
    assert_eq!(e(ArithOp::Add, "int8"), 0.03);
    assert_eq!(e(ArithOp::Mult, "int8"), 0.2);
    assert_eq!(e(ArithOp::Add, "int32"), 0.1);
    assert_eq!(e(ArithOp::Mult, "int32"), 3.1);
    assert_eq!(e(ArithOp::Add, "fp32"), 0.9);
    assert_eq!(e(ArithOp::Mult, "fp32"), 3.7);
    // Listed estimates equal what the rule gives from the nearest cited width.
    assert!((e(ArithOp::Mult, "int4") - 0.2 / 4.0).abs() < 1e-15);
    assert!((e(ArithOp::Add, "int2") - 0.03 / 4.0).abs() < 1e-15);
    // Unlisted widths: int3 from int2 or int4 (nearest in log distance: 4).
    assert!((e(ArithOp::Mult, "int3") - 0.05 * (3.0f64 / 4.0).powi(2)).abs() < 1e-15);
    assert!((e(ArithOp::Add, "int12") - 0.05 * 12.0 / 16.0).abs() < 1e-15);
    // Mixed widths: geometric mean of the squares, ∝ a·b under the bits² rule.
    let m = a.mult_energy(Precision::Int(4), Precision::Int(8)).unwrap();
    assert!((m - 0.2 * 4.0 * 8.0 / 64.0).abs() < 1e-15);
    let mem = &p.units[0].memory;
    assert_eq!(mem.sram.energy_pj.value, 100.0);
    assert_eq!(mem.sram.capacity_bytes.value, 1048576.0);
    assert_eq!(mem.local_buffer.as_ref().unwrap().energy_pj.value, 10.0);
    assert_eq!(
        p.backing.as_ref().unwrap().energy_pj_per_bit.value,
        1300.0 / 64.0
    );
}

fn field_error(text: &str) -> (String, String, String) {
    match Profile::from_toml_str(text, "my.toml") {
        Err(ProfileError::Field {
            file,
            field,
            reason,
        }) => (file, field, reason),
        other => panic!("expected a field error, got {other:?}"),
    }
}

fn horowitz_text() -> String {
    include_str!("../profiles/horowitz-45nm.toml").to_string()
}

#[test]
fn missing_source_names_the_field() {
    let text = horowitz_text().replace(
        "pj = 0.2\nsource = \"Horowitz 2014, Fig. 1.1.9: 8-bit integer multiply\"",
        "pj = 0.2",
    );
    let (file, field, reason) = field_error(&text);
    assert_eq!(file, "my.toml");
    assert_eq!(field, "units[0].arith.int_mult[3]");
    assert!(reason.contains("source"), "{reason}");
}

#[test]
fn bad_values_name_the_field() {
    let text = horowitz_text().replace("pj = 3.1\n", "pj = -3.1\n");
    let (_, field, reason) = field_error(&text);
    assert_eq!(field, "units[0].arith.int_mult[5]");
    assert!(reason.contains("non-negative"), "{reason}");

    let text = horowitz_text().replace(
        "dataflow = \"weight-stationary\"",
        "dataflow = \"row-stationary\"",
    );
    let (_, field, _) = field_error(&text);
    assert_eq!(field, "units[0].mac_array.dataflow");

    let text = horowitz_text().replace(
        "utilization = { value = 1.0,",
        "utilization = { value = 1.5,",
    );
    let (_, field, _) = field_error(&text);
    assert_eq!(field, "units[0].mac_array.utilization");

    let text = horowitz_text().replace(
        "estimated = true, derivation = \"low end of the range: 1300 pJ / 64 bits\"",
        "estimated = true",
    );
    let (_, field, reason) = field_error(&text);
    assert_eq!(field, "backing.energy_pj_per_bit");
    assert!(reason.contains("derivation"), "{reason}");

    let (_, field, _) = field_error("name = \"x\"\ndescription = \"y\"\nunits = [\n");
    assert_eq!(field, "(document)");
}

#[test]
fn files_are_read_and_unknown_names_refused() {
    let dir = std::env::temp_dir().join(format!("mw-energy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mine.toml");
    std::fs::write(
        &path,
        horowitz_text().replace("name = \"horowitz-45nm\"", "name = \"mine\""),
    )
    .unwrap();
    let p = Profile::resolve(path.to_str().unwrap()).unwrap();
    assert_eq!(p.name, "mine");
    let missing = dir.join("absent.toml");
    match Profile::from_toml_file(&missing) {
        Err(ProfileError::Read { file, .. }) => assert!(file.ends_with("absent.toml")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Profile::resolve("no-such-chip"),
        Err(ProfileError::Unknown { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn transfers_must_connect_every_pair_of_units() {
    let text = include_str!("../profiles/ndp120.toml");
    let cut = text.find("[[transfers]]\nfrom = \"dsp\"").unwrap();
    let (_, field, reason) = field_error(&text[..cut]);
    assert_eq!(field, "transfers");
    assert!(reason.contains("dsp") && reason.contains("mcu"), "{reason}");
}
