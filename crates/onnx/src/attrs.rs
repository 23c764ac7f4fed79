//! AttributeProto ↔ [`Attr`]. Graph, sparse-tensor, tensor-list and type attributes are refused.
use crate::proto::attribute_proto::AttributeType;
use crate::proto::AttributeProto;
use crate::tensor::{tensor_from_proto, tensor_to_proto, Source};
use crate::OnnxError;
use mw_ir::{Attr, Attrs};

/// Converts every attribute of node `node`.
pub(crate) fn attrs_from_proto(
    attrs: &[AttributeProto],
    node: &str,
    src: &Source,
) -> Result<Attrs, OnnxError> {
    let mut out = Attrs::new();
    for a in attrs {
        let name = a.name.clone().unwrap_or_default();
        let value = attr_from_proto(a, &name, node, src)?;
        out.set(&name, value);
    }
    Ok(out)
}

fn attr_from_proto(
    a: &AttributeProto,
    name: &str,
    node: &str,
    src: &Source,
) -> Result<Attr, OnnxError> {
    let bad = |reason: String| OnnxError::Attribute {
        file: src.file.to_string(),
        node: node.to_string(),
        attr: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("attribute without a name".into()));
    }
    if a.ref_attr_name.is_some() {
        return Err(bad(
            "attribute references are only valid inside functions".into()
        ));
    }
    let kind = match a.r#type.filter(|&t| t != 0) {
        Some(t) => {
            AttributeType::try_from(t).map_err(|_| bad(format!("unknown attribute type {t}")))?
        }
        None => implied_type(a).ok_or_else(|| bad("attribute holds no value".into()))?,
    };
    let utf8 = |b: &[u8]| {
        String::from_utf8(b.to_vec()).map_err(|_| bad("string is not valid UTF-8".into()))
    };
    Ok(match kind {
        AttributeType::Float => Attr::Float(a.f.unwrap_or_default()),
        AttributeType::Int => Attr::Int(a.i.unwrap_or_default()),
        AttributeType::String => Attr::String(utf8(a.s.as_deref().unwrap_or_default())?),
        AttributeType::Tensor => {
            let t =
                a.t.as_ref()
                    .ok_or_else(|| bad("TENSOR attribute without a tensor".into()))?;
            Attr::Tensor(tensor_from_proto(t, &format!("{node}.{name}"), src)?)
        }
        AttributeType::Floats => Attr::Floats(a.floats.clone()),
        AttributeType::Ints => Attr::Ints(a.ints.clone()),
        AttributeType::Strings => Attr::Strings(
            a.strings
                .iter()
                .map(|s| utf8(s))
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(bad(format!(
                "{} attributes are not supported",
                other.as_str_name()
            )))
        }
    })
}

/// The type of an attribute written without its `type` field (IR version 1).
fn implied_type(a: &AttributeProto) -> Option<AttributeType> {
    Some(if a.f.is_some() {
        AttributeType::Float
    } else if a.i.is_some() {
        AttributeType::Int
    } else if a.s.is_some() {
        AttributeType::String
    } else if a.t.is_some() {
        AttributeType::Tensor
    } else if a.g.is_some() {
        AttributeType::Graph
    } else if !a.floats.is_empty() {
        AttributeType::Floats
    } else if !a.ints.is_empty() {
        AttributeType::Ints
    } else if !a.strings.is_empty() {
        AttributeType::Strings
    } else if !a.graphs.is_empty() {
        AttributeType::Graphs
    } else {
        return None;
    })
}

/// The AttributeProto of one attribute, with its `type` set.
pub(crate) fn attr_to_proto(name: &str, a: &Attr) -> AttributeProto {
    let mut p = AttributeProto {
        name: Some(name.to_string()),
        ..Default::default()
    };
    let kind = match a {
        Attr::Int(v) => {
            p.i = Some(*v);
            AttributeType::Int
        }
        Attr::Float(v) => {
            p.f = Some(*v);
            AttributeType::Float
        }
        Attr::String(v) => {
            p.s = Some(v.as_bytes().to_vec());
            AttributeType::String
        }
        Attr::Tensor(t) => {
            p.t = Some(tensor_to_proto(t, ""));
            AttributeType::Tensor
        }
        Attr::Ints(v) => {
            p.ints = v.clone();
            AttributeType::Ints
        }
        Attr::Floats(v) => {
            p.floats = v.clone();
            AttributeType::Floats
        }
        Attr::Strings(v) => {
            p.strings = v.iter().map(|s| s.as_bytes().to_vec()).collect();
            AttributeType::Strings
        }
    };
    p.r#type = Some(kind as i32);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use mw_ir::Limits;
    use mw_tensor::Tensor;

    fn back(a: &AttributeProto) -> Result<Attrs, OnnxError> {
        let limits = Limits::default();
        let src = Source {
            file: "m.onnx",
            base_dir: None,
            limits: &limits,
        };
        attrs_from_proto(std::slice::from_ref(a), "n", &src)
    }

    #[test]
    fn every_attribute_kind_round_trips() {
        let kinds = [
            Attr::Int(-3),
            Attr::Float(0.25),
            Attr::String("SAME_UPPER".into()),
            Attr::Tensor(Tensor::from_vec(vec![2], vec![1i64, 2]).unwrap()),
            Attr::Ints(vec![1, -1, 0]),
            Attr::Floats(vec![0.5, -1.0]),
            Attr::Strings(vec!["a".into(), "".into()]),
            Attr::Ints(vec![]),
        ];
        for a in kinds {
            let p = attr_to_proto("k", &a);
            assert_eq!(back(&p).unwrap().get("k"), Some(&a));
        }
    }

    #[test]
    fn a_missing_type_is_implied_by_the_field_set() {
        let p = AttributeProto {
            name: Some("alpha".into()),
            f: Some(0.5),
            ..Default::default()
        };
        assert_eq!(back(&p).unwrap().get("alpha"), Some(&Attr::Float(0.5)));
        let empty = AttributeProto {
            name: Some("x".into()),
            ..Default::default()
        };
        assert!(matches!(back(&empty), Err(OnnxError::Attribute { .. })));
    }

    #[test]
    fn refused_kinds_name_the_node_and_attribute() {
        for t in [
            AttributeType::Graph,
            AttributeType::Graphs,
            AttributeType::SparseTensor,
            AttributeType::Tensors,
            AttributeType::TypeProto,
        ] {
            let p = AttributeProto {
                name: Some("body".into()),
                r#type: Some(t as i32),
                ..Default::default()
            };
            match back(&p) {
                Err(OnnxError::Attribute {
                    node, attr, reason, ..
                }) => {
                    assert_eq!((node.as_str(), attr.as_str()), ("n", "body"));
                    assert!(reason.contains(t.as_str_name()), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn non_utf8_strings_and_references_are_refused() {
        let p = AttributeProto {
            name: Some("mode".into()),
            r#type: Some(AttributeType::String as i32),
            s: Some(vec![0xff, 0xfe]),
            ..Default::default()
        };
        assert!(matches!(back(&p), Err(OnnxError::Attribute { .. })));
        let r = AttributeProto {
            name: Some("alpha".into()),
            ref_attr_name: Some("a".into()),
            ..Default::default()
        };
        assert!(matches!(back(&r), Err(OnnxError::Attribute { .. })));
    }
}
