// @{ header }@
// inq_top: the streaming dataflow graph (docs/hardware.md section 2). Every stream s passes
// through its own FIFO u_fifo_<s>: s<s>_* is its producer side (stream 0: the s_axis_* ports),
// q<s>_* the FIFO's output side towards its consumer. Every stream wire is marked
// public_flat_rd so that a simulation harness can read it; the manifest's taps name the
// observable streams of the model's nodes and input.
module inq_top (
  input  wire                clk,
  input  wire                rst,
  input  wire [@{ in_w - 1 }@:0]         s_axis_tdata,
  input  wire                s_axis_tvalid,
  output wire                s_axis_tready,
  input  wire                s_axis_tlast,
  output wire [@{ out_w - 1 }@:0]        m_axis_tdata,
  output wire                m_axis_tvalid,
  input  wire                m_axis_tready,
  output wire                m_axis_tlast,
  output wire [@{ idx_w - 1 }@:0]         m_axis_tuser
);
  /* verilator lint_off UNUSED */
  // Justification: images are delimited by element count (docs/hardware.md section 2), so
  // s_axis_tlast is accepted for AXI4-Stream compatibility but not used.
  wire unused_tlast = s_axis_tlast;
  /* verilator lint_on UNUSED */
@%- for s in streams %@

  // stream @{ s.index }@: @{ s.from }@ -> @{ s.to }@, @{ s.width }@ bits, FIFO depth @{ s.depth }@
@%- for w in s.wires %@
  wire [@{ s.width - 1 }@:0] @{ w }@_tdata /* verilator public_flat_rd */;
  wire @{ w }@_tvalid /* verilator public_flat_rd */;
  wire @{ w }@_tready /* verilator public_flat_rd */;
@%- endfor %@
@%- endfor %@

  // FIFOs (docs/hardware.md section 3)
@%- for i in fifos %@
@%- include "instance.v" %@
@%- endfor %@
@%- for e in engines %@

  // engine @{ e.index }@ (@{ e.tag }@)
@%- for w in e.wires %@
  wire [@{ w.width - 1 }@:0] @{ w.name }@;
@%- endfor %@
@%- for i in e.insts %@
@%- include "instance.v" %@
@%- endfor %@
@%- endfor %@

  // output stage (docs/hardware.md section 7)
@%- for i in out %@
@%- include "instance.v" %@
@%- endfor %@
endmodule
