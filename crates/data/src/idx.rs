//! IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed.
//!
//! Layout: `0x00 0x00 <type> <rank>`, `rank` big-endian u32 dims, then the elements big-endian in
//! C order. Types: `0x08` u8, `0x09` i8, `0x0B` i16, `0x0C` i32, `0x0D` f32, `0x0E` f64.
//! Headers are untrusted: the element count must fit the cap and match the data actually
//! present, and nothing larger than the data present is allocated.
use std::io::Read;
use std::path::Path;

use mw_tensor::{checked_numel, DType, Data, Tensor};

use crate::DataError;

/// Default cap on the data one IDX file may announce (1 GiB; Fashion-MNIST train is 47 MB).
pub const MAX_IDX_BYTES: u64 = 1 << 30;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads an IDX file (plain or gzip) with the default cap [`MAX_IDX_BYTES`].
pub fn read_idx(path: &Path) -> Result<Tensor, DataError> {
    read_idx_capped(path, MAX_IDX_BYTES)
}

/// Reads an IDX file whose data may not exceed `cap` bytes.
pub fn read_idx_capped(path: &Path, cap: u64) -> Result<Tensor, DataError> {
    let mut file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let mut magic = [0u8; 2];
    let got = read_up_to(&mut file, &mut magic).map_err(|e| DataError::io(path, e))?;
    let prefix = std::io::Cursor::new(magic[..got].to_vec());
    if got == 2 && magic == GZIP_MAGIC {
        let gz = flate2::read::GzDecoder::new(prefix.chain(file));
        read_body(path, std::io::BufReader::new(gz), cap, None)
    } else {
        read_body(
            path,
            std::io::BufReader::new(prefix.chain(file)),
            cap,
            Some(file_len),
        )
    }
}

/// Images: a u8 IDX of rank 3 `[N, rows, cols]`.
pub fn read_idx_images(path: &Path) -> Result<Tensor, DataError> {
    expect(path, read_idx(path)?, 3)
}

/// Labels: a u8 IDX of rank 1 `[N]`.
pub fn read_idx_labels(path: &Path) -> Result<Tensor, DataError> {
    expect(path, read_idx(path)?, 1)
}

fn expect(path: &Path, t: Tensor, rank: usize) -> Result<Tensor, DataError> {
    if t.dtype() != DType::U8 || t.rank() != rank {
        return Err(DataError::Tensor {
            path: path.to_path_buf(),
            detail: format!(
                "expected a rank-{rank} u8 IDX array, found rank {} {}",
                t.rank(),
                t.dtype()
            ),
        });
    }
    Ok(t)
}

/// Parses header and data. `plain_len`: the file's size when it is not compressed.
fn read_body(
    path: &Path,
    mut r: impl Read,
    cap: u64,
    plain_len: Option<u64>,
) -> Result<Tensor, DataError> {
    let mut head = [0u8; 4];
    r.read_exact(&mut head)
        .map_err(|e| read_err(path, e, "header"))?;
    if head[0] != 0 || head[1] != 0 {
        return Err(malformed(path, format!("bad magic {head:02x?}")));
    }
    let dtype = idx_dtype(path, head[2])?;
    let rank = usize::from(head[3]);
    let mut dim_bytes = vec![0u8; 4 * rank];
    r.read_exact(&mut dim_bytes)
        .map_err(|e| read_err(path, e, "dimensions"))?;
    let shape: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let need = checked_numel(&shape)
        .and_then(|n| n.checked_mul(dtype.size_of()))
        .map(|n| n as u64);
    let nbytes = match need {
        Some(n) if n <= cap => n,
        other => {
            return Err(DataError::TooLarge {
                path: path.to_path_buf(),
                what: "IDX data",
                bytes: other.unwrap_or(u64::MAX),
                cap,
            })
        }
    };
    let header_len = 4 + 4 * rank as u64;
    if let Some(len) = plain_len {
        if len.saturating_sub(header_len) != nbytes {
            return Err(size_mismatch(
                path,
                &shape,
                nbytes,
                len.saturating_sub(header_len),
            ));
        }
    }
    // Grows with the data actually present; one extra byte detects trailing garbage.
    let mut raw = Vec::new();
    r.take(nbytes + 1)
        .read_to_end(&mut raw)
        .map_err(|e| read_err(path, e, "data"))?;
    if raw.len() as u64 != nbytes {
        return Err(size_mismatch(path, &shape, nbytes, raw.len() as u64));
    }
    let data = decode_be(dtype, raw);
    Tensor::new(shape, data).map_err(|e| DataError::Tensor {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

fn idx_dtype(path: &Path, code: u8) -> Result<DType, DataError> {
    Ok(match code {
        0x08 => DType::U8,
        0x09 => DType::I8,
        0x0B => DType::I16,
        0x0C => DType::I32,
        0x0D => DType::F32,
        0x0E => DType::F64,
        other => {
            return Err(malformed(
                path,
                format!("unknown element type 0x{other:02x}"),
            ))
        }
    })
}

fn decode_be(dtype: DType, raw: Vec<u8>) -> Data {
    macro_rules! be {
        ($t:ty, $variant:ident) => {{
            const N: usize = std::mem::size_of::<$t>();
            Data::$variant(
                raw.chunks_exact(N)
                    .map(|c| <$t>::from_be_bytes(c.try_into().expect("chunks_exact")))
                    .collect(),
            )
        }};
    }
    match dtype {
        DType::U8 => Data::U8(raw),
        DType::I8 => be!(i8, I8),
        DType::I16 => be!(i16, I16),
        DType::I32 => be!(i32, I32),
        DType::F32 => be!(f32, F32),
        _ => be!(f64, F64),
    }
}

/// Fills as much of `buf` as the reader has; returns the count.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn read_err(path: &Path, e: std::io::Error, part: &str) -> DataError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        malformed(path, format!("file ends inside the {part}"))
    } else {
        DataError::io(path, e)
    }
}

fn size_mismatch(path: &Path, shape: &[usize], expected: u64, actual: u64) -> DataError {
    malformed(
        path,
        format!("dimensions {shape:?} need {expected} data bytes, the file holds {actual}"),
    )
}

fn malformed(path: &Path, detail: String) -> DataError {
    DataError::Malformed {
        path: path.to_path_buf(),
        format: "IDX",
        detail,
    }
}
