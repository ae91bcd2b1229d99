//! Reading a node's attributes: allowed-name checks, typed access with defaults, and the
//! spatial attributes conv and pooling share (`strides`, `pads`/`auto_pad`).
//!
//! Errors are plain sentences about the attribute; the importer adds the file and the node
//! ([`super::NodeIssue`]). Owns nothing else (no constants, no lowering).

use super::proto::{attribute_proto::AttributeType, AttributeProto, NodeProto};

/// The largest explicit padding accepted (2^31, like the largest tensor), so that padded sizes
/// cannot overflow.
pub(crate) const MAX_PAD: i64 = 1 << 31;

/// The attributes of one node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attrs<'a> {
    node: &'a NodeProto,
}

/// The declared type of an attribute (inferred from the filled field when `type` is absent).
fn attr_type(a: &AttributeProto) -> AttributeType {
    match a.r#type {
        Some(t) => AttributeType::try_from(t).unwrap_or(AttributeType::Undefined),
        None if a.f.is_some() => AttributeType::Float,
        None if a.i.is_some() => AttributeType::Int,
        None if a.s.is_some() => AttributeType::String,
        None if a.t.is_some() => AttributeType::Tensor,
        None if !a.ints.is_empty() => AttributeType::Ints,
        None if !a.floats.is_empty() => AttributeType::Floats,
        None => AttributeType::Undefined,
    }
}

impl<'a> Attrs<'a> {
    /// The attributes of `node`.
    pub fn of(node: &'a NodeProto) -> Self {
        Attrs { node }
    }

    /// Refuses any attribute not in `allowed`.
    pub fn check(&self, allowed: &[&str]) -> Result<(), String> {
        for a in &self.node.attribute {
            if !allowed.contains(&a.name()) {
                return Err(format!(
                    "attribute '{}' is not supported (supported: {})",
                    a.name(),
                    if allowed.is_empty() {
                        "none".to_string()
                    } else {
                        allowed.join(", ")
                    }
                ));
            }
        }
        Ok(())
    }

    /// The attribute `name` of type `ty`, if present.
    pub fn get(&self, name: &str, ty: AttributeType) -> Result<Option<&'a AttributeProto>, String> {
        match self.node.attribute.iter().find(|a| a.name() == name) {
            None => Ok(None),
            Some(a) if !a.ref_attr_name().is_empty() => Err(format!(
                "attribute '{name}' refers to a function attribute; not supported"
            )),
            Some(a) if attr_type(a) == ty => Ok(Some(a)),
            Some(a) => Err(format!(
                "attribute '{name}' has type {}, expected {}",
                attr_type(a).as_str_name(),
                ty.as_str_name()
            )),
        }
    }

    /// An int attribute or `default`.
    pub fn int(&self, name: &str, default: i64) -> Result<i64, String> {
        Ok(self
            .get(name, AttributeType::Int)?
            .map(|a| a.i())
            .unwrap_or(default))
    }

    /// A float attribute or `default`.
    pub fn float(&self, name: &str, default: f32) -> Result<f32, String> {
        Ok(self
            .get(name, AttributeType::Float)?
            .map(|a| a.f())
            .unwrap_or(default))
    }

    /// An ints attribute.
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, String> {
        Ok(self.get(name, AttributeType::Ints)?.map(|a| a.ints.clone()))
    }

    /// A string attribute.
    pub fn string(&self, name: &str) -> Result<Option<String>, String> {
        Ok(self
            .get(name, AttributeType::String)?
            .map(|a| String::from_utf8_lossy(a.s()).into_owned()))
    }

    /// Two positive values (`strides`, `kernel_shape`), or `default` when absent.
    pub fn spatial(&self, name: &str, default: [usize; 2]) -> Result<[usize; 2], String> {
        match self.ints(name)? {
            None => Ok(default),
            Some(v) if v.len() == 2 && v.iter().all(|&x| x >= 1) => {
                Ok([v[0] as usize, v[1] as usize])
            }
            Some(v) => Err(format!(
                "{name}={v:?} is not supported (two positive values needed)"
            )),
        }
    }

    /// Refuses dilations other than 1.
    pub fn no_dilation(&self) -> Result<(), String> {
        if let Some(d) = self.ints("dilations")? {
            if d.iter().any(|&x| x != 1) {
                return Err(format!("dilations={d:?} are not supported (only 1)"));
            }
        }
        Ok(())
    }

    /// Padding `[top, left, bottom, right]` from `pads`/`auto_pad` for an `hw` input; explicit
    /// pads are at most [`MAX_PAD`].
    pub fn padding(
        &self,
        hw: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> Result<[usize; 4], String> {
        let auto = self.string("auto_pad")?.unwrap_or_else(|| "NOTSET".into());
        match auto.as_str() {
            "NOTSET" | "" => match self.ints("pads")? {
                None => Ok([0; 4]),
                Some(p) if p.len() == 4 && p.iter().all(|&x| (0..=MAX_PAD).contains(&x)) => {
                    Ok([p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize])
                }
                Some(p) => Err(format!(
                    "pads={p:?} is not supported (4 values in 0..={MAX_PAD} needed)"
                )),
            },
            "VALID" => Ok([0; 4]),
            "SAME_UPPER" | "SAME_LOWER" => {
                let mut begin = [0; 2];
                let mut end = [0; 2];
                for d in 0..2 {
                    let out = hw[d].div_ceil(stride[d]);
                    let total = ((out - 1) * stride[d] + kernel[d]).saturating_sub(hw[d]);
                    let small = total / 2;
                    let (b, e) = if auto == "SAME_UPPER" {
                        (small, total - small)
                    } else {
                        (total - small, small)
                    };
                    begin[d] = b;
                    end[d] = e;
                }
                Ok([begin[0], begin[1], end[0], end[1]])
            }
            other => Err(format!("auto_pad={other} is not supported")),
        }
    }
}
