//! NumPy `.npy` files (format versions 1, 2 and 3) to and from [`Tensor`].
//!
//! An own reader rather than `ndarray-npy`: it goes straight to and from `mw_tensor::Tensor`
//! for every element type without an `ndarray` detour, and it checks untrusted headers (header
//! length, rank, element count against the file's real size) before allocating anything.
//!
//! Read: C-order arrays of `bool`, `i1 u1 i2 u2 i4 u4 i8 u8 f4 f8` in either byte order.
//! Fortran order and other types are [`DataError::Unsupported`]. Written: version 1.0,
//! little-endian, C order; atomically (a temporary file in the same folder, then a rename).
use std::io::{Read, Write};
use std::path::Path;

use mw_tensor::{checked_numel, DType, Data, Tensor};

use crate::DataError;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Longest header dictionary read (NumPy writes well under 1 KiB for any sane array).
pub const MAX_HEADER_LEN: usize = 1 << 16;
/// Highest rank read (NumPy's own limit).
pub const MAX_RANK: usize = 64;

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<Tensor, DataError> {
    let mut file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let mut reader = std::io::BufReader::new(&mut file);
    let (header, header_bytes) = read_header(path, &mut reader)?;
    let nbytes = checked_numel(&header.shape)
        .and_then(|n| n.checked_mul(header.dtype.size_of()))
        .ok_or_else(|| malformed(path, format!("shape {:?} overflows", header.shape)))?;
    let available = file_len.saturating_sub(header_bytes);
    if nbytes as u64 != available {
        return Err(DataError::Malformed {
            path: path.to_path_buf(),
            format: "npy",
            detail: format!(
                "shape {:?} of {} needs {nbytes} data bytes, file holds {available}",
                header.shape, header.dtype
            ),
        });
    }
    let mut raw = vec![0u8; nbytes];
    reader
        .read_exact(&mut raw)
        .map_err(|e| DataError::io(path, e))?;
    let data = decode(path, header.dtype, header.little_endian, &raw)?;
    Tensor::new(header.shape, data).map_err(|e| DataError::Tensor {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// Writes `tensor` as a version 1.0 little-endian C-order `.npy` file, atomically. Ranks above
/// [`MAX_RANK`] are [`DataError::Unsupported`] (NumPy could not read them).
pub fn write_npy(path: &Path, tensor: &Tensor) -> Result<(), DataError> {
    if tensor.rank() > MAX_RANK {
        return Err(unsupported(
            path,
            format!("rank {} > {MAX_RANK}", tensor.rank()),
        ));
    }
    let mut bytes = header_bytes(tensor);
    bytes.reserve(tensor.byte_len());
    encode(tensor.data(), &mut bytes);
    write_atomic(path, &bytes)
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so
/// readers see either the old file or the complete new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let name = path
        .file_name()
        .ok_or_else(|| DataError::io(path, std::io::ErrorKind::InvalidInput.into()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let unique = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tmp_name.push(format!(".tmp-{}-{unique}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        // Best effort: the temporary file is garbage either way.
        let _ = std::fs::remove_file(&tmp);
        DataError::io(path, e)
    })
}

struct Header {
    dtype: DType,
    little_endian: bool,
    shape: Vec<usize>,
}

/// Parses magic, version and the header dictionary; returns it and the bytes consumed.
fn read_header(path: &Path, r: &mut impl Read) -> Result<(Header, u64), DataError> {
    let mut pre = [0u8; 8];
    r.read_exact(&mut pre)
        .map_err(|_| malformed(path, "shorter than the .npy preamble".into()))?;
    if &pre[..6] != MAGIC {
        return Err(malformed(path, "missing the \\x93NUMPY magic".into()));
    }
    let (len, pre_len) = match pre[6] {
        1 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b)
                .map_err(|_| malformed(path, "truncated header length".into()))?;
            (u16::from_le_bytes(b) as usize, 10)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b)
                .map_err(|_| malformed(path, "truncated header length".into()))?;
            (u32::from_le_bytes(b) as usize, 12)
        }
        v => return Err(unsupported(path, format!("format version {v}.{}", pre[7]))),
    };
    if len > MAX_HEADER_LEN {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            what: "npy header",
            bytes: len as u64,
            cap: MAX_HEADER_LEN as u64,
        });
    }
    let mut text = vec![0u8; len];
    r.read_exact(&mut text)
        .map_err(|_| malformed(path, "truncated header".into()))?;
    let text =
        std::str::from_utf8(&text).map_err(|_| malformed(path, "header is not text".into()))?;
    Ok((parse_dict(path, text)?, (pre_len + len) as u64))
}

/// Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
fn parse_dict(path: &Path, text: &str) -> Result<Header, DataError> {
    let descr = dict_value(text, "descr")
        .and_then(|v| v.strip_prefix('\'').or_else(|| v.strip_prefix('"')))
        .and_then(|v| v.split(['\'', '"']).next())
        .ok_or_else(|| malformed(path, format!("no 'descr' in header {text:?}")))?;
    let fortran = dict_value(text, "fortran_order")
        .ok_or_else(|| malformed(path, format!("no 'fortran_order' in header {text:?}")))?;
    if fortran.starts_with("True") {
        return Err(unsupported(path, "Fortran-order array".into()));
    } else if !fortran.starts_with("False") {
        return Err(malformed(path, format!("bad 'fortran_order' in {text:?}")));
    }
    let shape_text = dict_value(text, "shape")
        .and_then(|v| v.strip_prefix('('))
        .and_then(|v| v.split(')').next())
        .ok_or_else(|| malformed(path, format!("no 'shape' tuple in header {text:?}")))?;
    let shape = parse_shape(shape_text)
        .ok_or_else(|| malformed(path, format!("bad shape ({shape_text})")))?;
    if shape.len() > MAX_RANK {
        return Err(malformed(
            path,
            format!("rank {} > {MAX_RANK}", shape.len()),
        ));
    }
    let (dtype, little_endian) = parse_descr(path, descr)?;
    Ok(Header {
        dtype,
        little_endian,
        shape,
    })
}

/// `3, 4` / `3,` / `` (a scalar) into dims; `None` on anything else.
fn parse_shape(text: &str) -> Option<Vec<usize>> {
    let text = text.trim();
    if text.is_empty() {
        return Some(Vec::new());
    }
    let body = text.strip_suffix(',').unwrap_or(text);
    body.split(',')
        .map(|d| d.trim().parse::<usize>().ok())
        .collect()
}

/// The text after `'key':` (leading spaces removed), if the key is present.
fn dict_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    ["'", "\""].iter().find_map(|q| {
        let pat = format!("{q}{key}{q}");
        let rest = &text[text.find(&pat)? + pat.len()..];
        Some(rest.trim_start().strip_prefix(':')?.trim_start())
    })
}

fn parse_descr(path: &Path, descr: &str) -> Result<(DType, bool), DataError> {
    let (order, code) = descr.split_at(descr.len().min(1));
    let little = match order {
        "<" | "|" => true,
        ">" => false,
        "=" => cfg!(target_endian = "little"),
        _ => return Err(unsupported(path, format!("dtype {descr:?}"))),
    };
    let dtype = match code {
        "b1" => DType::Bool,
        "i1" => DType::I8,
        "u1" => DType::U8,
        "i2" => DType::I16,
        "u2" => DType::U16,
        "i4" => DType::I32,
        "u4" => DType::U32,
        "i8" => DType::I64,
        "u8" => DType::U64,
        "f4" => DType::F32,
        "f8" => DType::F64,
        _ => return Err(unsupported(path, format!("dtype {descr:?}"))),
    };
    Ok((dtype, little))
}

fn decode(path: &Path, dtype: DType, little: bool, raw: &[u8]) -> Result<Data, DataError> {
    macro_rules! num {
        ($t:ty, $variant:ident) => {{
            const N: usize = std::mem::size_of::<$t>();
            Data::$variant(
                raw.chunks_exact(N)
                    .map(|c| {
                        let b: [u8; N] = c.try_into().expect("chunks_exact");
                        if little {
                            <$t>::from_le_bytes(b)
                        } else {
                            <$t>::from_be_bytes(b)
                        }
                    })
                    .collect(),
            )
        }};
    }
    Ok(match dtype {
        DType::Bool => {
            if let Some(i) = raw.iter().position(|&b| b > 1) {
                return Err(malformed(path, format!("bool element {i} is {}", raw[i])));
            }
            Data::Bool(raw.iter().map(|&b| b == 1).collect())
        }
        DType::I8 => num!(i8, I8),
        DType::U8 => num!(u8, U8),
        // No npy descriptor reads as 4-bit (they are written as i1/u1 and read back as 8-bit).
        DType::I4 => num!(i8, I8),
        DType::U4 => num!(u8, U8),
        DType::I16 => num!(i16, I16),
        DType::U16 => num!(u16, U16),
        DType::I32 => num!(i32, I32),
        DType::U32 => num!(u32, U32),
        DType::I64 => num!(i64, I64),
        DType::U64 => num!(u64, U64),
        DType::F32 => num!(f32, F32),
        DType::F64 => num!(f64, F64),
    })
}

fn descr_of(dtype: DType) -> &'static str {
    match dtype {
        DType::Bool => "|b1",
        DType::I8 | DType::I4 => "|i1",
        DType::U8 | DType::U4 => "|u1",
        DType::I16 => "<i2",
        DType::U16 => "<u2",
        DType::I32 => "<i4",
        DType::U32 => "<u4",
        DType::I64 => "<i8",
        DType::U64 => "<u8",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
    }
}

/// Magic, version 1.0 and the dictionary, padded with spaces so the data starts at a multiple
/// of 64 bytes, ending in a newline (as NumPy writes it).
fn header_bytes(tensor: &Tensor) -> Vec<u8> {
    let dims: Vec<String> = tensor.shape().iter().map(usize::to_string).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        descr_of(tensor.dtype())
    );
    let unpadded = MAGIC.len() + 4 + dict.len() + 1;
    dict.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    dict.push('\n');
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + dict.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    // A dictionary of at most MAX_RANK dims of at most 20 digits fits in u16.
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

fn encode(data: &Data, out: &mut Vec<u8>) {
    match data {
        Data::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        Data::I8(v) | Data::I4(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
        Data::U8(v) | Data::U4(v) => out.extend_from_slice(v),
        Data::I16(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
        Data::U16(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
        Data::I32(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
        Data::U32(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
        Data::I64(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
        Data::U64(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
        Data::F32(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
        Data::F64(v) => out.extend(v.iter().flat_map(|x| x.to_le_bytes())),
    }
}

fn malformed(path: &Path, detail: String) -> DataError {
    DataError::Malformed {
        path: path.to_path_buf(),
        format: "npy",
        detail,
    }
}

fn unsupported(path: &Path, detail: String) -> DataError {
    DataError::Unsupported {
        path: path.to_path_buf(),
        format: "npy",
        detail,
    }
}
