mod common;

use common::TempDir;
use mw_data::{check_finite, read_npy, write_npy, DataError};
use mw_tensor::{DType, Tensor};

/// A version-1.0 `.npy` file with the given header dictionary and data bytes.
fn raw_npy(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    let dict = format!("{dict}\n");
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn round_trips_every_dtype_and_rank() {
    let dir = TempDir::new("npy-roundtrip");
    let tensors = [
        Tensor::from_vec(vec![2, 3], vec![1.5f32, -2.0, 0.0, f32::MAX, 1e-30, -0.0]).unwrap(),
        Tensor::from_vec(vec![3], vec![1.0f64, -2.5, 3e300]).unwrap(),
        Tensor::from_vec(vec![4], vec![i8::MIN, -1, 0, i8::MAX]).unwrap(),
        Tensor::from_vec(vec![2, 2], vec![0u8, 1, 254, 255]).unwrap(),
        Tensor::from_vec(vec![2], vec![i16::MIN, i16::MAX]).unwrap(),
        Tensor::from_vec(vec![1], vec![u16::MAX]).unwrap(),
        Tensor::from_vec(vec![2], vec![i32::MIN, 7]).unwrap(),
        Tensor::from_vec(vec![1], vec![u32::MAX]).unwrap(),
        Tensor::from_vec(vec![3, 1], vec![i64::MIN, 0, i64::MAX]).unwrap(),
        Tensor::from_vec(vec![1], vec![u64::MAX]).unwrap(),
        Tensor::from_vec(vec![3], vec![true, false, true]).unwrap(),
        Tensor::scalar(42i64),
        Tensor::zeros(DType::F32, vec![0, 5]).unwrap(),
    ];
    for (i, t) in tensors.iter().enumerate() {
        let path = dir.join(&format!("t{i}.npy"));
        write_npy(&path, t).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let header_len = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!(header_len % 64, 0, "data must start 64-byte aligned");
        assert_eq!(&read_npy(&path).unwrap(), t, "{}", t.dtype());
    }
}

#[test]
fn writing_replaces_atomically_without_leftovers() {
    let dir = TempDir::new("npy-atomic");
    let path = dir.join("out.npy");
    write_npy(&path, &Tensor::from_vec(vec![2], vec![1f32, 2.0]).unwrap()).unwrap();
    let second = Tensor::from_vec(vec![3], vec![7i64, 8, 9]).unwrap();
    write_npy(&path, &second).unwrap();
    assert_eq!(read_npy(&path).unwrap(), second);
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "temporary files left behind");
    // A folder that does not exist: an error naming the target, nothing written.
    let missing = dir.join("no/such/out.npy");
    assert_eq!(write_npy(&missing, &second).unwrap_err().path(), missing);
    let deep = Tensor::zeros(DType::U8, vec![1; 65]).unwrap();
    let err = write_npy(&path, &deep).unwrap_err();
    assert!(matches!(err, DataError::Unsupported { .. }), "{err}");
    assert_eq!(
        read_npy(&path).unwrap(),
        second,
        "a refused write leaves the old file"
    );
}

#[test]
fn reads_big_endian_and_numpy_spellings() {
    let dir = TempDir::new("npy-spellings");
    let path = dir.join("be.npy");
    let data: Vec<u8> = [1i32, -2].iter().flat_map(|x| x.to_be_bytes()).collect();
    std::fs::write(
        &path,
        raw_npy(
            "{\"descr\": \">i4\", \"fortran_order\": False, \"shape\": (2,)}",
            &data,
        ),
    )
    .unwrap();
    let t = read_npy(&path).unwrap();
    assert_eq!(t.as_slice::<i32>().unwrap(), &[1, -2]);
}

fn read_err(dir: &TempDir, name: &str, bytes: &[u8]) -> DataError {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let err = read_npy(&path).unwrap_err();
    assert_eq!(err.path(), path, "the error must name the file");
    err
}

#[test]
fn hostile_headers_are_typed_errors_without_huge_allocations() {
    let dir = TempDir::new("npy-hostile");
    let dict =
        |shape: &str| format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    // A terabyte announced by a 100-byte file: refused before allocating.
    let err = read_err(
        &dir,
        "huge.npy",
        &raw_npy(&dict("(1000000000000,)"), &[0; 8]),
    );
    assert!(matches!(err, DataError::Malformed { .. }), "{err}");
    // Element count overflowing usize.
    let err = read_err(
        &dir,
        "overflow.npy",
        &raw_npy(&dict("(18446744073709551615, 4)"), &[]),
    );
    assert!(err.to_string().contains("overflows"), "{err}");
    // Too little data for the shape, and too much.
    let err = read_err(&dir, "short.npy", &raw_npy(&dict("(3,)"), &[0; 8]));
    assert!(err.to_string().contains("needs 12 data bytes"), "{err}");
    assert!(read_npy_bytes(&dir, "long.npy", &raw_npy(&dict("(1,)"), &[0; 8])).is_err());
    // A version-2 header announcing 4 GiB of dictionary.
    let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
    v2.extend_from_slice(&u32::MAX.to_le_bytes());
    let err = read_err(&dir, "bighead.npy", &v2);
    assert!(matches!(err, DataError::TooLarge { .. }), "{err}");
    // Header shorter than announced, wrong magic, empty file.
    let mut cut = raw_npy(&dict("(1,)"), &[]);
    cut.truncate(30);
    assert!(matches!(
        read_err(&dir, "cut.npy", &cut),
        DataError::Malformed { .. }
    ));
    assert!(matches!(
        read_err(&dir, "magic.npy", b"PK\x03\x04 zip"),
        DataError::Malformed { .. }
    ));
    assert!(matches!(
        read_err(&dir, "empty.npy", b""),
        DataError::Malformed { .. }
    ));
    // Garbage shapes and dictionaries.
    for (i, shape) in ["(-1,)", "(1,,2)", "(a,)", "[1]"].iter().enumerate() {
        let err = read_err(
            &dir,
            &format!("shape{i}.npy"),
            &raw_npy(&dict(shape), &[0; 4]),
        );
        assert!(matches!(err, DataError::Malformed { .. }), "{shape}: {err}");
    }
    let err = read_err(&dir, "nodescr.npy", &raw_npy("{'shape': (1,)}", &[0; 4]));
    assert!(matches!(err, DataError::Malformed { .. }), "{err}");
}

fn read_npy_bytes(dir: &TempDir, name: &str, bytes: &[u8]) -> Result<Tensor, DataError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    read_npy(&path)
}

#[test]
fn unsupported_content_is_refused() {
    let dir = TempDir::new("npy-unsupported");
    let err = read_err(
        &dir,
        "complex.npy",
        &raw_npy(
            "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
            &[0; 8],
        ),
    );
    assert!(matches!(err, DataError::Unsupported { .. }), "{err}");
    let err = read_err(
        &dir,
        "fortran.npy",
        &raw_npy(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
            &[0; 16],
        ),
    );
    assert!(err.to_string().contains("Fortran"), "{err}");
    let err = read_err(
        &dir,
        "bool.npy",
        &raw_npy(
            "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }",
            &[1, 2],
        ),
    );
    assert!(matches!(err, DataError::Malformed { .. }), "{err}");
}

#[test]
fn nan_is_caught_where_finite_data_is_required() {
    let dir = TempDir::new("npy-nan");
    let path = dir.join("features.npy");
    let t = Tensor::from_vec(vec![2, 2], vec![1.0f32, 2.0, f32::NAN, 4.0]).unwrap();
    write_npy(&path, &t).unwrap();
    let back = read_npy(&path).unwrap();
    let err = check_finite(&back, &path).unwrap_err();
    match &err {
        DataError::NonFinite { index, value, .. } => {
            assert_eq!(*index, 2);
            assert!(value.is_nan());
        }
        other => panic!("expected NonFinite, got {other}"),
    }
    assert_eq!(err.path(), path);
    let inf = Tensor::from_vec(vec![1], vec![f64::NEG_INFINITY]).unwrap();
    assert!(check_finite(&inf, &path).is_err());
    check_finite(
        &Tensor::from_vec(vec![2], vec![0f32, -1e38]).unwrap(),
        &path,
    )
    .unwrap();
    check_finite(&Tensor::from_vec(vec![1], vec![5i64]).unwrap(), &path).unwrap();
}

#[test]
fn numpy_reads_what_we_write_and_we_read_what_numpy_writes() {
    let Some(py) =
        mw_testkit::python_or_skip("numpy_reads_what_we_write_and_we_read_what_numpy_writes")
    else {
        return;
    };
    let dir = TempDir::new("npy-numpy");
    let ours = dir.join("ours.npy");
    let t = Tensor::from_vec(vec![2, 3], vec![0.5f32, -1.0, 2.25, 3.0, -4.5, 1e-7]).unwrap();
    write_npy(&ours, &t).unwrap();
    let theirs = dir.join("theirs.npy");
    let script = format!(
        "import numpy as np\n\
         a = np.load({ours:?})\n\
         assert a.dtype == np.float32 and a.shape == (2, 3), (a.dtype, a.shape)\n\
         assert (a == np.array([[0.5, -1.0, 2.25], [3.0, -4.5, 1e-7]], np.float32)).all()\n\
         np.save({theirs:?}, np.arange(-6, 6, dtype=np.int8).reshape(3, 2, 2))\n"
    );
    let out = std::process::Command::new(py)
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back = read_npy(&theirs).unwrap();
    assert_eq!(back.shape(), &[3, 2, 2]);
    assert_eq!(back.as_slice::<i8>().unwrap(), (-6..6).collect::<Vec<i8>>());
}
