// @{ header }@
// inq_top: the streaming pipeline (docs/hardware.md section 2). Stream wires tap*_ are the
// outputs of each engine and are readable from a Verilator harness (public_flat_rd).
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

@% for s in streams %@
  wire [@{ s.width - 1 }@:0] @{ s.name }@_tdata /* verilator public_flat_rd */;
  wire @{ s.name }@_tvalid /* verilator public_flat_rd */;
  wire @{ s.name }@_tready /* verilator public_flat_rd */;
@% endfor %@

  inq_fifo #(.W(@{ in_w }@), .D(@{ in_depth }@)) u_fifo_in (
    .clk(clk), .rst(rst),
    .s_data(s_axis_tdata), .s_valid(s_axis_tvalid), .s_ready(s_axis_tready),
    .m_data(tapin_tdata), .m_valid(tapin_tvalid), .m_ready(tapin_tready)
  );
@% for e in engines %@

  // engine @{ e.index }@
@% if e.has_rom %@
  wire [@{ e.waw - 1 }@:0] @{ e.inst }@_waddr;
  wire [@{ e.wdw - 1 }@:0] @{ e.inst }@_wdata;
@% for r in e.roms %@
  inq_rom #(.DW(@{ r.dw }@), .DEPTH(@{ r.depth }@), .AW(@{ e.waw }@), .FILE("@{ r.file }@")) @{ r.inst }@ (
    .clk(clk), .addr(@{ e.inst }@_waddr), .q(@{ e.inst }@_wdata[@{ r.hi }@:@{ r.lo }@])
  );
@% endfor %@
@% endif %@
  @{ e.module }@ #(
@% for p in e.params %@
    .@{ p.0 }@(@{ p.1 }@),
@% endfor %@
    .A(@{ e.in_w }@)
  ) @{ e.inst }@ (
    .clk(clk), .rst(rst),
    .in_data(@{ e.src }@_tdata), .in_valid(@{ e.src }@_tvalid), .in_ready(@{ e.src }@_tready),
@% if e.has_rom %@
    .w_addr_next(@{ e.inst }@_waddr), .w_data(@{ e.inst }@_wdata),
@% endif %@
    .out_data(@{ e.dst }@_tdata), .out_valid(@{ e.dst }@_tvalid), .out_ready(@{ e.dst }@_tready)
  );
  inq_fifo #(.W(@{ e.out_w }@), .D(@{ e.fifo_depth }@)) u_fifo_@{ e.index }@ (
    .clk(clk), .rst(rst),
    .s_data(@{ e.dst }@_tdata), .s_valid(@{ e.dst }@_tvalid), .s_ready(@{ e.dst }@_tready),
    .m_data(@{ e.fo }@_tdata), .m_valid(@{ e.fo }@_tvalid), .m_ready(@{ e.fo }@_tready)
  );
@% endfor %@

  inq_out #(.W(@{ out_w }@), .N(@{ n_out }@), .IDXW(@{ idx_w }@)) u_out (
    .clk(clk), .rst(rst),
    .s_data(@{ last_fo }@_tdata), .s_valid(@{ last_fo }@_tvalid), .s_ready(@{ last_fo }@_tready),
    .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
    .m_axis_tlast(m_axis_tlast), .m_axis_tuser(m_axis_tuser)
  );
endmodule
