//! The pieces rendering is made of, shared by the top level (`render`) and the engine kinds
//! (`engines`): output files, wires, parameters, port connections, instances, and the template
//! call. Owns no decision about what goes where.

use askama::Template;

use crate::error::CodegenError;

/// One output file: its path relative to the design folder and its contents.
pub(crate) struct OutFile {
    /// `rtl/...` or `constraints/...`.
    pub rel: String,
    /// The bytes.
    pub contents: Vec<u8>,
}

impl OutFile {
    /// A file under `rtl/`.
    pub fn rtl(name: &str, contents: Vec<u8>) -> Self {
        OutFile {
            rel: format!("rtl/{name}"),
            contents,
        }
    }
}

/// The three signals of one side of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wires {
    /// `<stem>_tdata`.
    pub data: String,
    /// `<stem>_tvalid`.
    pub valid: String,
    /// `<stem>_tready`.
    pub ready: String,
}

impl Wires {
    /// `<stem>_tdata`, `<stem>_tvalid`, `<stem>_tready`.
    pub fn named(stem: &str) -> Self {
        Wires {
            data: format!("{stem}_tdata"),
            valid: format!("{stem}_tvalid"),
            ready: format!("{stem}_tready"),
        }
    }
}

/// One module parameter of an instance.
#[derive(Clone)]
pub(crate) struct ParamV {
    /// Name.
    pub name: String,
    /// Verilog literal.
    pub value: String,
}

/// One port connection `.port(expr)`.
pub(crate) struct Conn {
    /// The module's port.
    pub port: String,
    /// The expression in the top.
    pub expr: String,
}

impl Conn {
    /// `.port(expr)`.
    pub fn new(port: &str, expr: &str) -> Self {
        Conn {
            port: port.to_string(),
            expr: expr.to_string(),
        }
    }
}

/// A module instance in the top (`templates/instance.v`).
pub(crate) struct Instance {
    /// Module.
    pub module: String,
    /// Instance name.
    pub name: String,
    /// Parameters, in order.
    pub params: Vec<ParamV>,
    /// Port connections, one group per line.
    pub lines: Vec<Vec<Conn>>,
}

/// A plain wire declared in the top.
pub(crate) struct Wire {
    /// Name.
    pub name: String,
    /// Width in bits.
    pub width: u32,
}

/// Renders a template (`name` for errors), ending the text with a newline.
pub(crate) fn text<T: Template>(t: &T, name: &str) -> Result<String, CodegenError> {
    let mut s = t.render().map_err(|e| CodegenError::Template {
        template: name.to_string(),
        message: e.to_string(),
    })?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}
