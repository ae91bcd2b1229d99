//! Constant tensors: decoding from `TensorProto`, encoding, and the few ops the importer
//! evaluates on constants (shape arithmetic and weight reshuffles exporters leave behind).

use super::proto::{tensor_proto::DataType, TensorProto};

/// An integer element that may stand for the (unknown) batch size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sym {
    /// A known value.
    Val(i64),
    /// The batch dimension of the graph input.
    Batch,
}

/// Elements of a constant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Data {
    /// Floating point (float32, or float64 narrowed).
    F32(Vec<f32>),
    /// Integers (int32/int64/uint8/int8/bool widened), possibly symbolic.
    Int(Vec<Sym>),
}

/// A constant tensor.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Value {
    pub dims: Vec<usize>,
    pub data: Data,
}

impl Value {
    pub fn len(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len(),
            Data::Int(v) => v.len(),
        }
    }

    pub fn f32(&self) -> Result<&[f32], String> {
        match &self.data {
            Data::F32(v) => Ok(v),
            Data::Int(_) => Err("is an integer tensor where float weights are expected".into()),
        }
    }

    /// Known integers (an error if an element is the symbolic batch size).
    pub fn ints(&self) -> Result<Vec<i64>, String> {
        match &self.data {
            Data::F32(_) => Err("is a float tensor where integers are expected".into()),
            Data::Int(v) => v
                .iter()
                .map(|s| match s {
                    Sym::Val(x) => Ok(*x),
                    Sym::Batch => Err("depends on the batch size".to_string()),
                })
                .collect(),
        }
    }

    pub fn syms(&self) -> Result<&[Sym], String> {
        match &self.data {
            Data::F32(_) => Err("is a float tensor where integers are expected".into()),
            Data::Int(v) => Ok(v),
        }
    }

    fn map_elems(&self, idx: &[usize], dims: Vec<usize>) -> Value {
        let data = match &self.data {
            Data::F32(v) => Data::F32(idx.iter().map(|&i| v[i]).collect()),
            Data::Int(v) => Data::Int(idx.iter().map(|&i| v[i]).collect()),
        };
        Value { dims, data }
    }
}

fn dtype_name(t: i32) -> String {
    DataType::try_from(t)
        .map(|d| d.as_str_name().to_string())
        .unwrap_or_else(|_| format!("#{t}"))
}

fn chunks<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    raw.chunks_exact(N).map(|c| {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        a
    })
}

/// Decodes a `TensorProto`. Errors say what is unsupported (without the tensor's name).
pub(crate) fn decode(t: &TensorProto) -> Result<Value, String> {
    if t.data_location == Some(1) || !t.external_data.is_empty() {
        return Err(
            "external data (tensor stored in a separate file) is not supported; \
                    save the model with all tensors inside the .onnx file"
                .into(),
        );
    }
    if t.segment.is_some() {
        return Err("segmented tensors are not supported".into());
    }
    let dims = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
        .collect::<Result<Vec<usize>, _>>()?;
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("dimensions overflow")?;
    let raw = t.raw_data.as_deref();
    let dt = t.data_type();
    let data = match DataType::try_from(dt) {
        Ok(DataType::Float) => Data::F32(match raw {
            Some(r) => chunks::<4>(r).map(f32::from_le_bytes).collect(),
            None => t.float_data.clone(),
        }),
        Ok(DataType::Double) => Data::F32(match raw {
            Some(r) => chunks::<8>(r)
                .map(|b| f64::from_le_bytes(b) as f32)
                .collect(),
            None => t.double_data.iter().map(|&v| v as f32).collect(),
        }),
        Ok(DataType::Int64) => Data::Int(match raw {
            Some(r) => chunks::<8>(r)
                .map(|b| Sym::Val(i64::from_le_bytes(b)))
                .collect(),
            None => t.int64_data.iter().map(|&v| Sym::Val(v)).collect(),
        }),
        Ok(DataType::Int32) => Data::Int(match raw {
            Some(r) => chunks::<4>(r)
                .map(|b| Sym::Val(i64::from(i32::from_le_bytes(b))))
                .collect(),
            None => t
                .int32_data
                .iter()
                .map(|&v| Sym::Val(i64::from(v)))
                .collect(),
        }),
        Ok(DataType::Uint8 | DataType::Bool) => Data::Int(match raw {
            Some(r) => r.iter().map(|&b| Sym::Val(i64::from(b))).collect(),
            None => t
                .int32_data
                .iter()
                .map(|&v| Sym::Val(i64::from(v)))
                .collect(),
        }),
        Ok(DataType::Int8) => Data::Int(match raw {
            Some(r) => r.iter().map(|&b| Sym::Val(i64::from(b as i8))).collect(),
            None => t
                .int32_data
                .iter()
                .map(|&v| Sym::Val(i64::from(v)))
                .collect(),
        }),
        _ => {
            return Err(format!(
                "data type {} is not supported (FLOAT, DOUBLE, INT64, INT32, INT8, UINT8, BOOL)",
                dtype_name(dt)
            ))
        }
    };
    let v = Value { dims, data };
    if v.len() != count {
        return Err(format!(
            "holds {} values but its shape {:?} needs {count}",
            v.len(),
            v.dims
        ));
    }
    Ok(v)
}

/// A float32 tensor with raw little-endian data.
pub(crate) fn f32_tensor(name: &str, dims: &[usize], data: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.to_string()),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(DataType::Float as i32),
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

/// An int64 tensor with raw little-endian data.
pub(crate) fn i64_tensor(name: &str, dims: &[usize], data: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.to_string()),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(DataType::Int64 as i32),
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

/// A scalar (rank 0) tensor of an 8/16-bit integer type holding 0 (a zero point).
pub(crate) fn zero_point(name: &str, dt: DataType) -> TensorProto {
    let bytes = match dt {
        DataType::Uint16 | DataType::Int16 => 2,
        _ => 1,
    };
    TensorProto {
        name: Some(name.to_string()),
        dims: vec![],
        data_type: Some(dt as i32),
        raw_data: Some(vec![0; bytes]),
        ..Default::default()
    }
}

fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(format!("axis {axis} out of range for rank {rank}"))
    }
}

/// `Transpose` with permutation `perm` (reversed dims when `None`).
pub(crate) fn transpose(v: &Value, perm: Option<&[i64]>) -> Result<Value, String> {
    let rank = v.dims.len();
    let perm: Vec<usize> = match perm {
        Some(p) => p
            .iter()
            .map(|&a| norm_axis(a, rank))
            .collect::<Result<_, _>>()?,
        None => (0..rank).rev().collect(),
    };
    let mut check = perm.clone();
    check.sort_unstable();
    if check != (0..rank).collect::<Vec<_>>() {
        return Err(format!("perm {perm:?} is not a permutation of 0..{rank}"));
    }
    let out_dims: Vec<usize> = perm.iter().map(|&p| v.dims[p]).collect();
    let in_strides = strides(&v.dims);
    let n = v.len();
    let mut idx = Vec::with_capacity(n);
    let mut coord = vec![0usize; rank];
    for _ in 0..n {
        idx.push(
            coord
                .iter()
                .zip(&perm)
                .map(|(&c, &p)| c * in_strides[p])
                .sum(),
        );
        for d in (0..rank).rev() {
            coord[d] += 1;
            if coord[d] < out_dims[d] {
                break;
            }
            coord[d] = 0;
        }
    }
    Ok(v.map_elems(&idx, out_dims))
}

/// Resolves an ONNX `Reshape` target (`0` copies, `-1` infers) for an input of `dims`.
pub(crate) fn reshape_dims(
    dims: &[usize],
    target: &[i64],
    allowzero: bool,
) -> Result<Vec<usize>, String> {
    let total: usize = dims.iter().product();
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            -1 => return Err(format!("shape {target:?} has more than one -1")),
            0 if !allowzero => out.push(*dims.get(i).ok_or_else(|| {
                format!("shape {target:?} copies dimension {i} (0) that the input {dims:?} lacks")
            })?),
            t if t >= 0 => out.push(t as usize),
            t => return Err(format!("invalid dimension {t} in shape {target:?}")),
        }
    }
    let known: usize = out.iter().product();
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("cannot reshape {dims:?} to {target:?}"));
        }
        out[i] = total / known;
    } else if known != total {
        return Err(format!(
            "cannot reshape {dims:?} ({total} elements) to {target:?}"
        ));
    }
    Ok(out)
}

/// `Concat` along `axis`.
pub(crate) fn concat(vals: &[Value], axis: i64) -> Result<Value, String> {
    let first = vals.first().ok_or("no inputs")?;
    let rank = first.dims.len();
    let ax = norm_axis(axis, rank)?;
    for v in vals {
        if v.dims.len() != rank
            || v.dims
                .iter()
                .enumerate()
                .any(|(i, &d)| i != ax && d != first.dims[i])
        {
            return Err(format!(
                "inputs of shapes {:?} and {:?} do not concatenate",
                first.dims, v.dims
            ));
        }
    }
    let outer: usize = first.dims[..ax].iter().product();
    let mut dims = first.dims.clone();
    dims[ax] = vals.iter().map(|v| v.dims[ax]).sum();
    let float = matches!(first.data, Data::F32(_));
    let mut fdata = Vec::new();
    let mut idata = Vec::new();
    for o in 0..outer {
        for v in vals {
            let inner: usize = v.dims[ax..].iter().product();
            match (&v.data, float) {
                (Data::F32(d), true) => fdata.extend_from_slice(&d[o * inner..(o + 1) * inner]),
                (Data::Int(d), false) => idata.extend_from_slice(&d[o * inner..(o + 1) * inner]),
                _ => return Err("inputs of different element types".into()),
            }
        }
    }
    Ok(Value {
        dims,
        data: if float {
            Data::F32(fdata)
        } else {
            Data::Int(idata)
        },
    })
}

/// `Gather` along `axis` with integer `indices`.
pub(crate) fn gather(v: &Value, indices: &Value, axis: i64) -> Result<Value, String> {
    let rank = v.dims.len();
    let ax = norm_axis(axis, rank)?;
    let ind = indices.ints()?;
    let n = v.dims[ax] as i64;
    let outer: usize = v.dims[..ax].iter().product();
    let inner: usize = v.dims[ax + 1..].iter().product();
    let mut idx = Vec::new();
    for o in 0..outer {
        for &i in &ind {
            let i = if i < 0 { i + n } else { i };
            if !(0..n).contains(&i) {
                return Err(format!("index {i} out of range 0..{n}"));
            }
            let base = (o * v.dims[ax] + i as usize) * inner;
            idx.extend(base..base + inner);
        }
    }
    let mut dims = v.dims[..ax].to_vec();
    dims.extend_from_slice(&indices.dims);
    dims.extend_from_slice(&v.dims[ax + 1..]);
    Ok(v.map_elems(&idx, dims))
}

/// `Unsqueeze` at `axes` (positions in the output).
pub(crate) fn unsqueeze(v: &Value, axes: &[i64]) -> Result<Value, String> {
    let out_rank = v.dims.len() + axes.len();
    let mut ax: Vec<usize> = axes
        .iter()
        .map(|&a| norm_axis(a, out_rank))
        .collect::<Result<_, _>>()?;
    ax.sort_unstable();
    ax.dedup();
    if ax.len() != axes.len() {
        return Err(format!("repeated axis in {axes:?}"));
    }
    let mut dims = v.dims.clone();
    for &a in &ax {
        dims.insert(a, 1);
    }
    Ok(Value {
        dims,
        data: v.data.clone(),
    })
}

/// `Squeeze` at `axes` (all size-1 axes when `None`).
pub(crate) fn squeeze(v: &Value, axes: Option<&[i64]>) -> Result<Value, String> {
    let rank = v.dims.len();
    let ax: Vec<usize> = match axes {
        Some(a) => a
            .iter()
            .map(|&x| norm_axis(x, rank))
            .collect::<Result<_, _>>()?,
        None => (0..rank).filter(|&i| v.dims[i] == 1).collect(),
    };
    if let Some(&a) = ax.iter().find(|&&a| v.dims[a] != 1) {
        return Err(format!("axis {a} has size {}, not 1", v.dims[a]));
    }
    let dims = v
        .dims
        .iter()
        .enumerate()
        .filter(|(i, _)| !ax.contains(i))
        .map(|(_, &d)| d)
        .collect();
    Ok(Value {
        dims,
        data: v.data.clone(),
    })
}

/// `Slice` of a 1-D tensor (steps of 1 only).
pub(crate) fn slice1(v: &Value, start: i64, end: i64) -> Result<Value, String> {
    if v.dims.len() != 1 {
        return Err(format!(
            "slicing a tensor of rank {} is not supported (rank 1 only)",
            v.dims.len()
        ));
    }
    let n = v.dims[0] as i64;
    let clampi = |x: i64| if x < 0 { (x + n).max(0) } else { x.min(n) };
    let (s, e) = (clampi(start), clampi(end));
    let idx: Vec<usize> = (s..e.max(s)).map(|i| i as usize).collect();
    let len = idx.len();
    Ok(v.map_elems(&idx, vec![len]))
}

/// `Cast` to ONNX data type `to`.
pub(crate) fn cast(v: &Value, to: i64) -> Result<Value, String> {
    let data = match (DataType::try_from(to as i32), &v.data) {
        (Ok(DataType::Float | DataType::Double), Data::F32(d)) => Data::F32(d.clone()),
        (Ok(DataType::Float | DataType::Double), Data::Int(_)) => {
            Data::F32(v.ints()?.iter().map(|&x| x as f32).collect())
        }
        (Ok(DataType::Int64 | DataType::Int32), Data::Int(d)) => Data::Int(d.clone()),
        (Ok(DataType::Int64 | DataType::Int32), Data::F32(d)) => {
            Data::Int(d.iter().map(|&x| Sym::Val(x.trunc() as i64)).collect())
        }
        _ => {
            return Err(format!(
                "cast to {} is not supported",
                dtype_name(to as i32)
            ))
        }
    };
    Ok(Value {
        dims: v.dims.clone(),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(dims: &[usize], v: &[f32]) -> Value {
        Value {
            dims: dims.to_vec(),
            data: Data::F32(v.to_vec()),
        }
    }

    #[test]
    fn transpose_2d_and_3d() {
        let v = f(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let t = transpose(&v, None).unwrap();
        assert_eq!(t, f(&[3, 2], &[1., 4., 2., 5., 3., 6.]));
        let v = f(&[2, 1, 2], &[1., 2., 3., 4.]);
        let t = transpose(&v, Some(&[2, 0, 1])).unwrap();
        assert_eq!(t, f(&[2, 2, 1], &[1., 3., 2., 4.]));
        assert!(transpose(&v, Some(&[0, 0, 1])).is_err());
    }

    #[test]
    fn reshape_gather_concat() {
        assert_eq!(
            reshape_dims(&[1, 4, 2, 2], &[0, -1], false).unwrap(),
            vec![1, 16]
        );
        assert_eq!(
            reshape_dims(&[1, 4, 2, 2], &[-1, 16], false).unwrap(),
            vec![1, 16]
        );
        assert!(reshape_dims(&[1, 4, 2, 2], &[-1, 5], false).is_err());
        let shape = Value {
            dims: vec![4],
            data: Data::Int(vec![Sym::Batch, Sym::Val(4), Sym::Val(2), Sym::Val(2)]),
        };
        let i0 = Value {
            dims: vec![],
            data: Data::Int(vec![Sym::Val(0)]),
        };
        let g = gather(&shape, &i0, 0).unwrap();
        assert_eq!(g.dims, Vec::<usize>::new());
        let u = unsqueeze(&g, &[0]).unwrap();
        let m1 = Value {
            dims: vec![1],
            data: Data::Int(vec![Sym::Val(-1)]),
        };
        let c = concat(&[u, m1], 0).unwrap();
        assert_eq!(c.syms().unwrap(), &[Sym::Batch, Sym::Val(-1)]);
        assert_eq!(
            slice1(&shape, 1, 100).unwrap().ints().unwrap(),
            vec![4, 2, 2]
        );
    }
}
