//! TensorProto ↔ [`Tensor`]: element types, sizes checked against the cap before allocating, and
//! external data read only from inside the model's folder.
use crate::proto::tensor_proto::{DataLocation, DataType};
use crate::proto::TensorProto;
use crate::OnnxError;
use mw_ir::Limits;
use mw_tensor::{checked_numel, dispatch_data, DType, Data, Tensor};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path};

/// Where tensors come from: the file named in errors, the folder external data must stay in,
/// and the caps.
#[derive(Clone, Copy)]
pub(crate) struct Source<'a> {
    pub file: &'a str,
    pub base_dir: Option<&'a Path>,
    pub limits: &'a Limits,
}

/// The milliwatt element type of an ONNX `TensorProto.DataType` code, or the ONNX name of the
/// type it refuses.
pub(crate) fn dtype_of(code: i32) -> Result<DType, String> {
    let dt = DataType::try_from(code).map_err(|_| format!("unknown ({code})"))?;
    Ok(match dt {
        DataType::Float => DType::F32,
        DataType::Double => DType::F64,
        DataType::Int8 => DType::I8,
        DataType::Uint8 => DType::U8,
        DataType::Int4 => DType::I4,
        DataType::Uint4 => DType::U4,
        DataType::Int16 => DType::I16,
        DataType::Uint16 => DType::U16,
        DataType::Int32 => DType::I32,
        DataType::Uint32 => DType::U32,
        DataType::Int64 => DType::I64,
        DataType::Uint64 => DType::U64,
        DataType::Bool => DType::Bool,
        other => return Err(other.as_str_name().to_string()),
    })
}

/// The ONNX `TensorProto.DataType` code of a milliwatt element type.
pub(crate) fn code_of(dtype: DType) -> i32 {
    let dt = match dtype {
        DType::F32 => DataType::Float,
        DType::F64 => DataType::Double,
        DType::I8 => DataType::Int8,
        DType::U8 => DataType::Uint8,
        DType::I4 => DataType::Int4,
        DType::U4 => DataType::Uint4,
        DType::I16 => DataType::Int16,
        DType::U16 => DataType::Uint16,
        DType::I32 => DataType::Int32,
        DType::U32 => DataType::Uint32,
        DType::I64 => DataType::Int64,
        DType::U64 => DataType::Uint64,
        DType::Bool => DataType::Bool,
    };
    dt as i32
}

/// Decodes one TensorProto named `name` (for messages).
pub(crate) fn tensor_from_proto(
    t: &TensorProto,
    name: &str,
    src: &Source,
) -> Result<Tensor, OnnxError> {
    let bad = |reason: String| OnnxError::Tensor {
        file: src.file.to_string(),
        tensor: name.to_string(),
        reason,
    };
    let dtype = dtype_of(t.data_type.unwrap_or(0)).map_err(|dtype| OnnxError::TensorDType {
        file: src.file.to_string(),
        tensor: name.to_string(),
        dtype,
    })?;
    if t.segment.is_some() {
        return Err(bad("segmented tensors are not supported".into()));
    }
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| bad(format!("invalid dimension {d}"))))
        .collect::<Result<Vec<usize>, _>>()?;
    src.limits
        .check(dtype, &shape)
        .map_err(|source| OnnxError::TensorCap {
            file: src.file.to_string(),
            tensor: name.to_string(),
            source,
        })?;
    let numel = checked_numel(&shape).ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    let data = if t.data_location == Some(DataLocation::External as i32) {
        let bytes = read_external(t, name, src, dtype.packed_bytes(numel))?;
        from_le_bytes(dtype, &bytes, numel)
    } else if let Some(raw) = &t.raw_data {
        let need = dtype.packed_bytes(numel);
        if raw.len() != need {
            return Err(bad(format!(
                "raw_data holds {} bytes but shape {shape:?} of {dtype} needs {need}",
                raw.len()
            )));
        }
        from_le_bytes(dtype, raw, numel)
    } else {
        from_typed_fields(t, dtype, numel).map_err(bad)?
    };
    Tensor::new(shape, data).map_err(|e| bad(e.to_string()))
}

/// Unpacks `numel` 4-bit values, two per byte, the first in the low nibble (ONNX's order);
/// `signed` sign-extends each nibble. `b` holds `ceil(numel / 2)` bytes.
fn unpack_nibbles(b: &[u8], numel: usize, signed: bool) -> Vec<u8> {
    let nibble = |k: usize| (b[k / 2] >> (4 * (k % 2))) & 0x0f;
    (0..numel)
        .map(|k| {
            let v = nibble(k);
            if signed && v >= 8 {
                v | 0xf0
            } else {
                v
            }
        })
        .collect()
}

/// Packs 4-bit values (their low nibbles) two per byte, the first in the low nibble.
fn pack_nibbles(values: impl ExactSizeIterator<Item = u8>) -> Vec<u8> {
    let mut out = vec![0u8; values.len().div_ceil(2)];
    for (k, v) in values.enumerate() {
        out[k / 2] |= (v & 0x0f) << (4 * (k % 2));
    }
    out
}

/// Elements from little-endian bytes: `numel` elements in `dtype.packed_bytes(numel)` bytes.
fn from_le_bytes(dtype: DType, b: &[u8], numel: usize) -> Data {
    macro_rules! conv {
        ($t:ty, $n:literal) => {
            b.chunks_exact($n)
                .map(|c| <$t>::from_le_bytes(c.try_into().expect("chunk of element size")))
                .collect()
        };
    }
    match dtype {
        DType::F32 => Data::F32(conv!(f32, 4)),
        DType::F64 => Data::F64(conv!(f64, 8)),
        DType::I8 => Data::I8(b.iter().map(|&x| x as i8).collect()),
        DType::U8 => Data::U8(b.to_vec()),
        DType::I4 => Data::I4(
            unpack_nibbles(b, numel, true)
                .into_iter()
                .map(|x| x as i8)
                .collect(),
        ),
        DType::U4 => Data::U4(unpack_nibbles(b, numel, false)),
        DType::I16 => Data::I16(conv!(i16, 2)),
        DType::U16 => Data::U16(conv!(u16, 2)),
        DType::I32 => Data::I32(conv!(i32, 4)),
        DType::U32 => Data::U32(conv!(u32, 4)),
        DType::I64 => Data::I64(conv!(i64, 8)),
        DType::U64 => Data::U64(conv!(u64, 8)),
        DType::Bool => Data::Bool(b.iter().map(|&x| x != 0).collect()),
    }
}

/// Elements from the typed repeated fields (`int32_data` also carries i8/u8/i16/u16/bool,
/// `uint64_data` carries u32), checking count and range.
fn from_typed_fields(t: &TensorProto, dtype: DType, numel: usize) -> Result<Data, String> {
    fn check_len<T>(field: &str, v: &[T], numel: usize) -> Result<(), String> {
        if v.len() != numel {
            return Err(format!(
                "{field} holds {} values but the shape needs {numel}",
                v.len()
            ));
        }
        Ok(())
    }
    fn narrow<S: Copy + std::fmt::Display, T: TryFrom<S>>(
        field: &str,
        v: &[S],
        numel: usize,
    ) -> Result<Vec<T>, String> {
        check_len(field, v, numel)?;
        v.iter()
            .map(|&x| T::try_from(x).map_err(|_| format!("{field} value {x} is out of range")))
            .collect()
    }
    Ok(match dtype {
        DType::F32 => {
            check_len("float_data", &t.float_data, numel)?;
            Data::F32(t.float_data.clone())
        }
        DType::F64 => {
            check_len("double_data", &t.double_data, numel)?;
            Data::F64(t.double_data.clone())
        }
        DType::I64 => {
            check_len("int64_data", &t.int64_data, numel)?;
            Data::I64(t.int64_data.clone())
        }
        DType::I32 => {
            check_len("int32_data", &t.int32_data, numel)?;
            Data::I32(t.int32_data.clone())
        }
        DType::U64 => {
            check_len("uint64_data", &t.uint64_data, numel)?;
            Data::U64(t.uint64_data.clone())
        }
        DType::I8 => Data::I8(narrow("int32_data", &t.int32_data, numel)?),
        DType::U8 => Data::U8(narrow("int32_data", &t.int32_data, numel)?),
        DType::I16 => Data::I16(narrow("int32_data", &t.int32_data, numel)?),
        DType::U16 => Data::U16(narrow("int32_data", &t.int32_data, numel)?),
        DType::I4 | DType::U4 => {
            // Packed bytes, two values each, one byte per int32 entry.
            let bytes: Vec<u8> = narrow("int32_data", &t.int32_data, numel.div_ceil(2))?;
            from_le_bytes(dtype, &bytes, numel)
        }
        DType::U32 => Data::U32(narrow("uint64_data", &t.uint64_data, numel)?),
        DType::Bool => {
            check_len("int32_data", &t.int32_data, numel)?;
            Data::Bool(t.int32_data.iter().map(|&x| x != 0).collect())
        }
    })
}

/// Reads the `need` bytes of an external-data tensor from a file inside `src.base_dir`.
fn read_external(
    t: &TensorProto,
    name: &str,
    src: &Source,
    need: usize,
) -> Result<Vec<u8>, OnnxError> {
    let key = |k: &str| {
        t.external_data
            .iter()
            .find(|e| e.key.as_deref() == Some(k))
            .and_then(|e| e.value.clone())
    };
    let location = key("location").unwrap_or_default();
    let bad = |reason: String| OnnxError::ExternalData {
        file: src.file.to_string(),
        tensor: name.to_string(),
        location: location.clone(),
        reason,
    };
    let number = |k: &str| -> Result<Option<u64>, OnnxError> {
        key(k)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| bad(format!("invalid {k} `{v}`")))
            })
            .transpose()
    };
    let (offset, length) = (number("offset")?.unwrap_or(0), number("length")?);
    let path = resolve_external(&location, src.base_dir).map_err(&bad)?;
    let mut file = File::open(&path).map_err(|e| bad(format!("cannot open: {e}")))?;
    let size = file
        .metadata()
        .map_err(|e| bad(format!("cannot stat: {e}")))?
        .len();
    if offset > size {
        return Err(bad(format!(
            "offset {offset} is past the end of the {size}-byte file"
        )));
    }
    let length = length.unwrap_or(size - offset);
    if offset.checked_add(length).is_none_or(|end| end > size) {
        return Err(bad(format!(
            "offset {offset} + length {length} is past the end of the {size}-byte file"
        )));
    }
    if length != need as u64 {
        return Err(bad(format!(
            "holds {length} bytes but the tensor's shape needs {need}"
        )));
    }
    let mut bytes = vec![0u8; need];
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|e| bad(format!("cannot read: {e}")))?;
    Ok(bytes)
}

/// The canonical path of `location`, which must be a relative path naming a regular file that
/// stays inside `base_dir` after resolving symlinks.
fn resolve_external(location: &str, base_dir: Option<&Path>) -> Result<std::path::PathBuf, String> {
    let base_dir = base_dir.ok_or(
        "external data needs the model's folder (load from a path, or pass base_dir)".to_string(),
    )?;
    if location.is_empty() {
        return Err("no location given".into());
    }
    let rel = Path::new(location);
    for c in rel.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err("`..` may not leave the model's folder".into()),
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute paths are refused; it must be relative to the model".into())
            }
        }
    }
    let base = base_dir
        .canonicalize()
        .map_err(|e| format!("model folder `{}`: {e}", base_dir.display()))?;
    let target = base
        .join(rel)
        .canonicalize()
        .map_err(|e| format!("cannot open: {e}"))?;
    if !target.starts_with(&base) {
        return Err(format!(
            "resolves to `{}`, outside the model's folder `{}`",
            target.display(),
            base.display()
        ));
    }
    if !target.is_file() {
        return Err("is not a regular file".into());
    }
    Ok(target)
}

/// A TensorProto holding `t` as little-endian `raw_data` (4-bit types packed two per byte, the
/// first value in the low nibble).
pub(crate) fn tensor_to_proto(t: &Tensor, name: &str) -> TensorProto {
    let raw = match t.data() {
        Data::I4(v) => pack_nibbles(v.iter().map(|&x| x as u8)),
        Data::U4(v) => pack_nibbles(v.iter().copied()),
        data => {
            let mut raw = Vec::with_capacity(t.byte_len());
            dispatch_data!(data, v => v.iter().for_each(|x| x.put_le(&mut raw)));
            raw
        }
    };
    TensorProto {
        dims: t.shape().iter().map(|&d| d as i64).collect(),
        data_type: Some(code_of(t.dtype())),
        name: (!name.is_empty()).then(|| name.to_string()),
        raw_data: Some(raw),
        ..Default::default()
    }
}

/// Appends an element's little-endian bytes (bool as one byte, 0 or 1).
trait PutLe {
    fn put_le(&self, out: &mut Vec<u8>);
}

macro_rules! put_le {
    ($($t:ty),*) => {$(
        impl PutLe for $t {
            fn put_le(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
put_le!(f32, f64, i8, u8, i16, u16, i32, u32, i64, u64);

impl PutLe for bool {
    fn put_le(&self, out: &mut Vec<u8>) {
        out.push(*self as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(limits: &Limits) -> Source<'_> {
        Source {
            file: "test.onnx",
            base_dir: None,
            limits,
        }
    }

    fn every_dtype() -> Vec<Tensor> {
        vec![
            Tensor::from_vec(vec![2, 2], vec![1.5f32, -0.0, f32::INFINITY, f32::MIN]).unwrap(),
            Tensor::from_vec(vec![2], vec![1e300f64, -2.5]).unwrap(),
            Tensor::from_vec(vec![3], vec![i8::MIN, 0, i8::MAX]).unwrap(),
            Tensor::from_vec(vec![3], vec![0u8, 7, 255]).unwrap(),
            Tensor::from_vec(vec![2], vec![i16::MIN, i16::MAX]).unwrap(),
            Tensor::from_vec(vec![2], vec![0u16, u16::MAX]).unwrap(),
            Tensor::from_vec(vec![2], vec![i32::MIN, i32::MAX]).unwrap(),
            Tensor::from_vec(vec![2], vec![0u32, u32::MAX]).unwrap(),
            Tensor::from_vec(vec![2], vec![i64::MIN, i64::MAX]).unwrap(),
            Tensor::from_vec(vec![2], vec![0u64, u64::MAX]).unwrap(),
            Tensor::from_vec(vec![3], vec![true, false, true]).unwrap(),
            Tensor::new(vec![3], Data::I4(vec![-8, 7, -1])).unwrap(),
            Tensor::new(vec![2, 2], Data::U4(vec![0, 15, 3, 9])).unwrap(),
            Tensor::from_vec(vec![0, 3], Vec::<f32>::new()).unwrap(),
            Tensor::scalar(42i64),
        ]
    }

    #[test]
    fn raw_data_round_trips_every_dtype() {
        let limits = Limits::default();
        for t in every_dtype() {
            let p = tensor_to_proto(&t, "t");
            let want = t.dtype().packed_bytes(t.len());
            assert_eq!(p.raw_data.as_ref().unwrap().len(), want);
            let back = tensor_from_proto(&p, "t", &src(&limits)).unwrap();
            assert_eq!(back, t);
        }
    }

    #[test]
    fn raw_data_is_little_endian() {
        let t = Tensor::from_vec(vec![1], vec![0x0102_0304i32]).unwrap();
        assert_eq!(tensor_to_proto(&t, "").raw_data.unwrap(), [4, 3, 2, 1]);
    }

    #[test]
    fn four_bit_values_pack_low_nibble_first() {
        let t = Tensor::new(vec![3], Data::I4(vec![1, -2, 7])).unwrap();
        assert_eq!(tensor_to_proto(&t, "").raw_data.unwrap(), [0xe1, 0x07]);
        let limits = Limits::default();
        let p = TensorProto {
            dims: vec![3],
            data_type: Some(code_of(DType::U4)),
            int32_data: vec![0x21, 0x0f],
            ..Default::default()
        };
        let back = tensor_from_proto(&p, "t", &src(&limits)).unwrap();
        assert_eq!(
            back,
            Tensor::new(vec![3], Data::U4(vec![1, 2, 15])).unwrap()
        );
        let short = TensorProto {
            raw_data: Some(vec![0x21]),
            int32_data: vec![],
            ..p
        };
        assert!(tensor_from_proto(&short, "t", &src(&limits)).is_err());
    }

    #[test]
    fn typed_fields_decode_every_dtype() {
        let limits = Limits::default();
        let with = |code: DType, f: &dyn Fn(&mut TensorProto)| {
            let mut p = TensorProto {
                dims: vec![2],
                data_type: Some(code_of(code)),
                ..Default::default()
            };
            f(&mut p);
            tensor_from_proto(&p, "t", &src(&limits)).unwrap()
        };
        let t = with(DType::F32, &|p| p.float_data = vec![1.0, -2.0]);
        assert_eq!(t.as_slice::<f32>().unwrap(), &[1.0, -2.0]);
        let t = with(DType::F64, &|p| p.double_data = vec![1.0, -2.0]);
        assert_eq!(t.as_slice::<f64>().unwrap(), &[1.0, -2.0]);
        let t = with(DType::I64, &|p| p.int64_data = vec![i64::MIN, 5]);
        assert_eq!(t.as_slice::<i64>().unwrap(), &[i64::MIN, 5]);
        let t = with(DType::I32, &|p| p.int32_data = vec![-7, 5]);
        assert_eq!(t.as_slice::<i32>().unwrap(), &[-7, 5]);
        let t = with(DType::I8, &|p| p.int32_data = vec![-128, 127]);
        assert_eq!(t.as_slice::<i8>().unwrap(), &[-128, 127]);
        let t = with(DType::U8, &|p| p.int32_data = vec![0, 255]);
        assert_eq!(t.as_slice::<u8>().unwrap(), &[0, 255]);
        let t = with(DType::I16, &|p| p.int32_data = vec![-300, 300]);
        assert_eq!(t.as_slice::<i16>().unwrap(), &[-300, 300]);
        let t = with(DType::U16, &|p| p.int32_data = vec![0, 65535]);
        assert_eq!(t.as_slice::<u16>().unwrap(), &[0, 65535]);
        let t = with(DType::Bool, &|p| p.int32_data = vec![1, 0]);
        assert_eq!(t.as_slice::<bool>().unwrap(), &[true, false]);
        let t = with(DType::U32, &|p| p.uint64_data = vec![0, u32::MAX as u64]);
        assert_eq!(t.as_slice::<u32>().unwrap(), &[0, u32::MAX]);
        let t = with(DType::U64, &|p| p.uint64_data = vec![0, u64::MAX]);
        assert_eq!(t.as_slice::<u64>().unwrap(), &[0, u64::MAX]);
    }

    #[test]
    fn narrow_typed_values_out_of_range_are_refused() {
        let limits = Limits::default();
        for (dt, v) in [
            (DType::I8, 128),
            (DType::U8, -1),
            (DType::I16, 40000),
            (DType::U16, -1),
        ] {
            let p = TensorProto {
                dims: vec![1],
                data_type: Some(code_of(dt)),
                int32_data: vec![v],
                ..Default::default()
            };
            let e = tensor_from_proto(&p, "t", &src(&limits)).unwrap_err();
            assert!(e.to_string().contains("out of range"), "{dt}: {e}");
        }
    }

    #[test]
    fn every_unsupported_onnx_type_is_named() {
        for (code, name) in [
            (10, "FLOAT16"),
            (16, "BFLOAT16"),
            (8, "STRING"),
            (23, "FLOAT4E2M1"),
        ] {
            assert_eq!(dtype_of(code).unwrap_err(), name);
        }
        assert_eq!(dtype_of(0).unwrap_err(), "UNDEFINED");
        assert!(dtype_of(999).unwrap_err().contains("999"));
        for t in every_dtype() {
            assert_eq!(dtype_of(code_of(t.dtype())), Ok(t.dtype()));
        }
    }
}
