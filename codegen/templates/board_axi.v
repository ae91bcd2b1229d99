// @{ header }@
// inq_axi: the core (inq_top) with the ports a Xilinx DMA and processor expect
// (docs/user-guide.md, "AXI top"):
// * AXI4-Stream slave s_axis: one input element per beat in the low @{ in_w }@ bits of a
//   @{ in_bytes }@-byte tdata (tkeep all ones), tlast on the last element of every image
//   (@{ elements }@ elements); a tlast anywhere else, or a missing one, sets ERR.TLAST;
// * AXI4-Stream master m_axis: the @{ classes }@ logits of every image, one per beat,
//   sign-extended to @{ out_bytes }@ bytes, tkeep all ones, tlast on the last;
// * AXI4-Lite slave s_axil (32-bit, byte addresses):
//     0x00 CTRL       write bit 0 = 1: soft reset of the core and the counters (one pulse)
//     0x04 STATUS     bit 0 busy (an image in, its logits not all out), bit 1 error (ERR != 0)
//     0x08 IMAGES_IN  images received completely
//     0x0C IMAGES_OUT images whose logits went out completely
//     0x10 CLASS      class (argmax) of the last image out
//     0x14 CYCLES     clock cycles since the last reset (wraps)
//     0x18 IN_STALL   cycles with s_axis_tvalid and not s_axis_tready
//     0x1C OUT_STALL  cycles with m_axis_tvalid and not m_axis_tready
//     0x20 ERR        bit 0 TLAST (sticky until reset)
//     0x24 ELEMENTS   input elements per image (@{ elements }@)
//     0x28 CLASSES    logits per image (@{ classes }@)
// aresetn (active low, synchronous) resets everything.
module inq_axi (
  input  wire                    aclk,
  input  wire                    aresetn,
  input  wire [@{ in_bytes * 8 - 1 }@:0] s_axis_tdata,
  input  wire [@{ in_bytes - 1 }@:0]  s_axis_tkeep,
  input  wire                    s_axis_tvalid,
  output wire                    s_axis_tready,
  input  wire                    s_axis_tlast,
  output wire [@{ out_bytes * 8 - 1 }@:0] m_axis_tdata,
  output wire [@{ out_bytes - 1 }@:0]  m_axis_tkeep,
  output wire                    m_axis_tvalid,
  input  wire                    m_axis_tready,
  output wire                    m_axis_tlast,
  input  wire [5:0]              s_axil_awaddr,
  input  wire                    s_axil_awvalid,
  output reg                     s_axil_awready,
  input  wire [31:0]             s_axil_wdata,
  input  wire [3:0]              s_axil_wstrb,
  input  wire                    s_axil_wvalid,
  output reg                     s_axil_wready,
  output reg  [1:0]              s_axil_bresp,
  output reg                     s_axil_bvalid,
  input  wire                    s_axil_bready,
  input  wire [5:0]              s_axil_araddr,
  input  wire                    s_axil_arvalid,
  output reg                     s_axil_arready,
  output reg  [31:0]             s_axil_rdata,
  output reg  [1:0]              s_axil_rresp,
  output reg                     s_axil_rvalid,
  input  wire                    s_axil_rready
);
  localparam integer ELEMENTS = @{ elements }@;
  localparam integer CLASSES  = @{ classes }@;
  localparam integer EW = $clog2(ELEMENTS + 1);
  localparam integer ELAST_I = ELEMENTS - 1;
  localparam [EW-1:0] ELAST = ELAST_I[EW-1:0];

  reg  soft_rst;                        // soft-reset pulse from CTRL
  wire rst = ((~aresetn) | soft_rst);

  // ---- the core ----
  /* verilator lint_off UNUSED */
  // Justification: the core takes the low @{ in_w }@ bits of each input byte lane; tkeep is
  // all ones by contract (one element per beat).
  wire [@{ in_bytes * 8 - 1 }@:0] in_all = s_axis_tdata;
  wire [@{ in_bytes - 1 }@:0] keep_unused = s_axis_tkeep;
  /* verilator lint_on UNUSED */
  wire [@{ out_w - 1 }@:0] logit;
  wire [@{ idx_w - 1 }@:0] cls;
  inq_top u_core (
    .clk(aclk), .rst(rst),
    .s_axis_tdata(in_all[@{ in_w - 1 }@:0]), .s_axis_tvalid(s_axis_tvalid),
    .s_axis_tready(s_axis_tready), .s_axis_tlast(s_axis_tlast),
    .m_axis_tdata(logit), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
    .m_axis_tlast(m_axis_tlast), .m_axis_tuser(cls)
  );
  assign m_axis_tdata = @{ out_ext }@;
  assign m_axis_tkeep = {@{ out_bytes }@{1'b1}};

  // ---- counters and flags ----
  wire in_fire  = (s_axis_tvalid & s_axis_tready);
  wire out_fire = (m_axis_tvalid & m_axis_tready);
  reg [EW-1:0] ecount;              // elements of the current input image
  reg [31:0]   images_in;
  reg [31:0]   images_out;
  reg [31:0]   cycles;
  reg [31:0]   in_stall;
  reg [31:0]   out_stall;
  reg [31:0]   last_class;
  reg          err_tlast;
  always @(posedge aclk) begin
    if (rst) begin
      ecount <= {EW{1'b0}};
      images_in <= 32'd0;
      images_out <= 32'd0;
      cycles <= 32'd0;
      in_stall <= 32'd0;
      out_stall <= 32'd0;
      last_class <= 32'd0;
      err_tlast <= 1'b0;
    end else begin
      cycles <= (cycles + 32'd1);
      if (s_axis_tvalid & ~s_axis_tready) in_stall <= (in_stall + 32'd1);
      if (m_axis_tvalid & ~m_axis_tready) out_stall <= (out_stall + 32'd1);
      if (in_fire) begin
        if (s_axis_tlast != (ecount == ELAST)) err_tlast <= 1'b1;
        if (ecount == ELAST) begin
          ecount <= {EW{1'b0}};
          images_in <= (images_in + 32'd1);
        end else begin
          ecount <= (ecount + 1'b1);
        end
      end
      if (out_fire & m_axis_tlast) begin
        images_out <= (images_out + 32'd1);
        last_class <= @{ class_ext }@;
      end
    end
  end

  // ---- AXI4-Lite: one write and one read at a time ----
  wire [31:0] err_word = {31'd0, err_tlast};
  wire        busy = ((images_in != images_out) | (ecount != {EW{1'b0}}));
  reg  [31:0] rd_mux;
  always @(*) begin
    case (s_axil_araddr[5:2])
      4'd1:    rd_mux = {30'd0, (err_word != 32'd0), busy};
      4'd2:    rd_mux = images_in;
      4'd3:    rd_mux = images_out;
      4'd4:    rd_mux = last_class;
      4'd5:    rd_mux = cycles;
      4'd6:    rd_mux = in_stall;
      4'd7:    rd_mux = out_stall;
      4'd8:    rd_mux = err_word;
      4'd9:    rd_mux = ELEMENTS;
      4'd10:   rd_mux = CLASSES;
      default: rd_mux = 32'd0;
    endcase
  end
  /* verilator lint_off UNUSED */
  // Justification: only CTRL bit 0 is writable; the other data, strobe and address bits of a
  // write are ignored (registers are word-aligned, addresses above 0x2C read as 0).
  wire [31:0] wdata_unused = s_axil_wdata;
  wire [3:0]  wstrb_unused = s_axil_wstrb;
  wire [5:0]  awaddr_unused = s_axil_awaddr;
  wire [1:0]  araddr_unused = s_axil_araddr[1:0];
  /* verilator lint_on UNUSED */
  always @(posedge aclk) begin
    soft_rst <= 1'b0;
    if (~aresetn) begin
      s_axil_awready <= 1'b0;
      s_axil_wready <= 1'b0;
      s_axil_bvalid <= 1'b0;
      s_axil_bresp <= 2'b00;
      s_axil_arready <= 1'b0;
      s_axil_rvalid <= 1'b0;
      s_axil_rresp <= 2'b00;
      s_axil_rdata <= 32'd0;
    end else begin
      // write: take address and data together, answer OKAY
      s_axil_awready <= 1'b0;
      s_axil_wready <= 1'b0;
      if (s_axil_awvalid & s_axil_wvalid & ~s_axil_awready & ~s_axil_bvalid) begin
        s_axil_awready <= 1'b1;
        s_axil_wready <= 1'b1;
        s_axil_bvalid <= 1'b1;
        s_axil_bresp <= 2'b00;
        if ((s_axil_awaddr[5:2] == 4'd0) & s_axil_wstrb[0] & s_axil_wdata[0]) soft_rst <= 1'b1;
      end else if (s_axil_bvalid & s_axil_bready) begin
        s_axil_bvalid <= 1'b0;
      end
      // read
      s_axil_arready <= 1'b0;
      if (s_axil_arvalid & ~s_axil_arready & ~s_axil_rvalid) begin
        s_axil_arready <= 1'b1;
        s_axil_rvalid <= 1'b1;
        s_axil_rresp <= 2'b00;
        s_axil_rdata <= rd_mux;
      end else if (s_axil_rvalid & s_axil_rready) begin
        s_axil_rvalid <= 1'b0;
      end
    end
  end
endmodule
