mod common;

use std::io::Write;
use std::path::Path;

use common::TempDir;
use mw_data::idx::read_idx_capped;
use mw_data::{read_idx, read_idx_images, read_idx_labels, DataError};

/// IDX bytes: magic with `type_code`, the dims, then `data`.
fn idx_bytes(type_code: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, type_code, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn write(dir: &TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn reads_tiny_images_and_labels_plain_and_gzipped() {
    let dir = TempDir::new("idx-tiny");
    let pixels: Vec<u8> = (0..2 * 3 * 4).map(|i| (i * 11) as u8).collect();
    let images = idx_bytes(0x08, &[2, 3, 4], &pixels);
    let labels = idx_bytes(0x08, &[2], &[7, 3]);
    for (suffix, wrap) in [("", false), (".gz", true)] {
        let pack = |b: &[u8]| if wrap { gzip(b) } else { b.to_vec() };
        let img = write(&dir, &format!("images{suffix}"), &pack(&images));
        let lab = write(&dir, &format!("labels{suffix}"), &pack(&labels));
        let t = read_idx_images(&img).unwrap();
        assert_eq!(t.shape(), &[2, 3, 4]);
        assert_eq!(t.as_slice::<u8>().unwrap(), pixels.as_slice());
        let l = read_idx_labels(&lab).unwrap();
        assert_eq!(l.as_slice::<u8>().unwrap(), &[7, 3]);
        // Images are not labels and vice versa.
        assert!(matches!(
            read_idx_labels(&img),
            Err(DataError::Tensor { .. })
        ));
        assert!(read_idx_images(&lab).is_err());
    }
}

#[test]
fn reads_wider_big_endian_types() {
    let dir = TempDir::new("idx-types");
    let data: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|x| x.to_be_bytes())
        .collect();
    let t = read_idx(&write(&dir, "f32", &idx_bytes(0x0D, &[2], &data))).unwrap();
    assert_eq!(t.as_slice::<f32>().unwrap(), &[1.5, -2.0]);
    let data: Vec<u8> = [-70000i32].iter().flat_map(|x| x.to_be_bytes()).collect();
    let t = read_idx(&write(&dir, "i32", &idx_bytes(0x0C, &[1, 1], &data))).unwrap();
    assert_eq!(t.as_slice::<i32>().unwrap(), &[-70000]);
}

fn err_of(path: &Path) -> DataError {
    let err = read_idx(path).unwrap_err();
    assert_eq!(err.path(), path, "the error must name the file");
    err
}

#[test]
fn hostile_headers_are_typed_errors_without_huge_allocations() {
    let dir = TempDir::new("idx-hostile");
    // 4 billion cubed bytes: over the cap (and over usize) before anything is allocated.
    let huge = idx_bytes(0x08, &[u32::MAX, u32::MAX, u32::MAX], &[1, 2, 3]);
    for name in ["huge", "huge.gz"] {
        let bytes = if name.ends_with(".gz") {
            gzip(&huge)
        } else {
            huge.clone()
        };
        let err = err_of(&write(&dir, name, &bytes));
        assert!(matches!(err, DataError::TooLarge { .. }), "{err}");
    }
    // Under the cap but far more than the file holds: plain files are checked against their
    // size, gzip streams end early; neither allocates the announced size.
    let big = idx_bytes(0x08, &[60_000, 28, 28], &[0; 100]);
    let err = err_of(&write(&dir, "big", &big));
    assert!(err.to_string().contains("47040000"), "{err}");
    let err = err_of(&write(&dir, "big.gz", &gzip(&big)));
    assert!(matches!(err, DataError::Malformed { .. }), "{err}");
    // A caller's own cap.
    let small = write(&dir, "small", &idx_bytes(0x08, &[10], &[0; 10]));
    assert!(matches!(
        read_idx_capped(&small, 9),
        Err(DataError::TooLarge {
            bytes: 10,
            cap: 9,
            ..
        })
    ));
    // Trailing bytes, bad magic, unknown type, cut headers, corrupt gzip, empty file.
    for (name, bytes) in [
        ("trailing", idx_bytes(0x08, &[2], &[1, 2, 3])),
        ("magic", vec![1, 0, 8, 1, 0, 0, 0, 0]),
        ("type", idx_bytes(0x07, &[1], &[0])),
        ("cut-dims", vec![0, 0, 8, 3, 0, 0]),
        ("empty", vec![]),
    ] {
        let err = err_of(&write(&dir, name, &bytes));
        assert!(matches!(err, DataError::Malformed { .. }), "{name}: {err}");
    }
    let trailing_gz = gzip(&idx_bytes(0x08, &[2], &[1, 2, 3]));
    assert!(read_idx(&write(&dir, "trailing.gz", &trailing_gz)).is_err());
    let mut corrupt = gzip(&idx_bytes(0x08, &[64], &[5; 64]));
    let n = corrupt.len();
    corrupt[n / 2..].fill(0xAB);
    assert!(read_idx(&write(&dir, "corrupt.gz", &corrupt)).is_err());
}

#[test]
fn fashion_mnist_test_set_when_installed() {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    let images = dir.join("t10k-images-idx3-ubyte.gz");
    let labels = dir.join("t10k-labels-idx1-ubyte.gz");
    if !images.is_file() || !labels.is_file() {
        eprintln!(
            "SKIP fashion_mnist_test_set_when_installed: needs Debian's dataset-fashion-mnist \
             (apt-get install dataset-fashion-mnist) in {}",
            dir.display()
        );
        return;
    }
    let images = read_idx_images(&images).unwrap();
    assert_eq!(images.shape(), &[10_000, 28, 28]);
    let sum: u64 = images
        .as_slice::<u8>()
        .unwrap()
        .iter()
        .map(|&p| u64::from(p))
        .sum();
    assert_eq!(sum, 573_469_082, "pixel checksum (numpy on the same file)");
    let labels = read_idx_labels(&labels).unwrap();
    let labels = labels.as_slice::<u8>().unwrap();
    assert_eq!(&labels[..10], &[9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    let mut counts = [0usize; 10];
    for &l in labels {
        counts[usize::from(l)] += 1;
    }
    assert_eq!(counts, [1000; 10]);
}
