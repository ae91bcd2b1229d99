// @{ header }@
// inq_pool_tile: max / average pooling over windows that tile the map (KH = SH, KW = SW,
// KH | H, KW | W; docs/hardware.md section 5.1). No line buffer: one partial result per
// output column and channel (OW*C words) is updated by every input element of its window,
// and a window's last element sends the result. One input element per cycle; two output
// slots (out_data, hold), so that in_ready is a function of registers only and back-to-back
// window results flow at one per cycle. No row counter: an image ends with a window row. The
// partial results are read synchronously at the address of the next element (forwarding the
// word written at the same edge), so the memory maps to block RAM as well as to LUT-RAM.
// K elements per beat (K | C; docs/hardware.md sections 2 and 5.1): a beat carries K channels
// of one pixel, channel g*K + i in bits [i*A +: A]; the unit is the K = 1 unit over CG = C/K
// channel groups, each "element" a group of K channels pooled side by side (K lanes of the
// comparison or sum, one memory word of K partial results per group), one beat per cycle.
module inq_pool_tile #(
  parameter integer C         = 1,
  parameter integer W         = 2,
  parameter integer KH        = 2,
  parameter integer KW        = 2,
  parameter integer OW        = 1,
  parameter integer A         = 8,
  parameter integer IN_SIGNED = 0,
  parameter integer AVG       = 0,
  parameter integer S         = 0,
  parameter integer SUMW      = 9,
  parameter integer K         = 1
) (
  input  wire           clk,
  input  wire           rst,
  input  wire [K*A-1:0] in_data,
  input  wire           in_valid,
  output wire           in_ready,
  output reg  [K*A-1:0] out_data,
  output wire           out_valid,
  input  wire           out_ready
);
  localparam integer PW  = (AVG != 0) ? SUMW : A;   // a partial result (one lane)
  localparam integer CG  = C / K;                   // channel groups: beats per pixel
  localparam integer PD  = (OW * CG < 2) ? 2 : OW * CG;
  localparam integer PAW = $clog2(PD);
  localparam integer CCW = (CG < 2) ? 1 : $clog2(CG);
  localparam integer XW  = (W < 2) ? 1 : $clog2(W);
  localparam integer KXW = (KW < 2) ? 1 : $clog2(KW);
  localparam integer KYW = (KH < 2) ? 1 : $clog2(KH);

  localparam integer C_LAST_I = CG - 1;
  localparam [CCW-1:0] C_LAST = C_LAST_I[CCW-1:0];
  localparam [PAW-1:0] C_M1   = C_LAST_I[PAW-1:0];
  localparam integer W_LAST_I = W - 1;
  localparam [XW-1:0] W_LAST = W_LAST_I[XW-1:0];
  localparam integer KX_LAST_I = KW - 1;
  localparam [KXW-1:0] KX_LAST = KX_LAST_I[KXW-1:0];
  localparam integer KY_LAST_I = KH - 1;
  localparam [KYW-1:0] KY_LAST = KY_LAST_I[KYW-1:0];

  // ---- registers (reset values: docs/hardware.md section 5.1) ----
  reg [CCW-1:0] c;    // channel group of the next input beat
  reg [XW-1:0]  ix;   // its column
  reg [KXW-1:0] kx;   // ix mod KW
  reg [KYW-1:0] ky;   // its row mod KH
  reg [PAW-1:0] wa;   // its partial results' word: (ix / KW) * CG + c
  reg [1:0]     n;    // results in the output slots (0, 1, 2)
  reg [K*A-1:0] hold; // the second slot

  wire first   = ((ky == {KYW{1'b0}}) & (kx == {KXW{1'b0}}));
  wire last    = ((ky == KY_LAST) & (kx == KX_LAST));
  assign in_ready = ((~last) | (~n[1]));
  wire in_fire = (in_valid & in_ready);
  wire push    = (in_fire & last);
  assign out_valid = (n != 2'd0);
  wire emit    = (out_valid & out_ready);
  wire [1:0] n_pop = (n - {1'b0, emit});   // slots in use after this edge's pop
  wire c_last  = (c == C_LAST);
  wire row_end = (c_last & (ix == W_LAST));
  wire we      = ((~rst) & in_fire & (~last));   // no storage write at a reset edge (section 1)

  // the partial results of the current beat's window (lane i in bits [i*PW +: PW]): a
  // registered read of pb[wa]
  reg  [K*PW-1:0] pb [0:PD-1];
  reg  [K*PW-1:0] pr;
  wire [K*PW-1:0] nxt;   // the window's partial results including this beat
  wire [K*A-1:0]  res;   // the window's results (on its last beat)
  wire [PAW-1:0] wa_s = (row_end ? {PAW{1'b0}}
                         : ((c_last & (kx != KX_LAST)) ? (wa - C_M1) : (wa + 1'b1)));
  wire [PAW-1:0] ra   = (in_fire ? wa_s : wa);
  always @(posedge clk) begin
    if (we) begin
      pb[wa] <= nxt;
    end
    pr <= ((we & (ra == wa)) ? nxt : pb[ra]);
  end

  // one lane per channel of the beat: lane i pools channel c*K + i
  genvar li;
  generate
    for (li = 0; li < K; li = li + 1) begin : g_lane
      wire [A-1:0]  v  = in_data[li*A +: A];
      wire [PW-1:0] pl = pr[li*PW +: PW];
      if (AVG == 0) begin : g_max
        wire gt = ((IN_SIGNED != 0) ? ($signed(v) > $signed(pl)) : (v > pl));
        assign nxt[li*PW +: PW] = ((first | gt) ? v : pl);
        assign res[li*A +: A] = nxt[li*PW +: PW];
      end else begin : g_avg
        localparam integer SM1 = (S > 0) ? (S - 1) : 0;
        localparam [PW-1:0] ONE = {{(PW-1){1'b0}}, 1'b1};
        localparam [PW-1:0] RND = (S > 0) ? (ONE << SM1) : {PW{1'b0}};
        wire [PW-1:0] xe = {{(PW-A){((IN_SIGNED != 0) ? v[A-1] : 1'b0)}}, v};
        wire [PW-1:0] nl = ((first ? {PW{1'b0}} : pl) + xe);
        assign nxt[li*PW +: PW] = nl;
        /* verilator lint_off UNUSED */
        // Justification: the rounded average of A-bit values fits A bits; the upper bits of the
        // SUMW-bit shifted sum are sign copies.
        wire [PW-1:0] avg = ($signed(nl + RND) >>> S);
        /* verilator lint_on UNUSED */
        assign res[li*A +: A] = avg[A-1:0];
      end
    end
  endgenerate

  always @(posedge clk) begin
    if (rst) begin
      c <= {CCW{1'b0}};
      ix <= {XW{1'b0}};
      kx <= {KXW{1'b0}};
      ky <= {KYW{1'b0}};
      wa <= {PAW{1'b0}};
      n <= 2'd0;
      out_data <= {(K*A){1'b0}};
    end else begin
      if (in_fire) begin
        wa <= wa_s;
        if (!c_last) begin
          c <= (c + 1'b1);
        end else begin
          c <= {CCW{1'b0}};
          kx <= ((kx == KX_LAST) ? {KXW{1'b0}} : (kx + 1'b1));
          if (ix != W_LAST) begin
            ix <= (ix + 1'b1);
          end else begin
            ix <= {XW{1'b0}};
            ky <= ((ky == KY_LAST) ? {KYW{1'b0}} : (ky + 1'b1));
          end
        end
      end
      // output slots: out_data is the head, hold the second; a pop moves hold to the head,
      // a result goes to the first slot free after the pop (this form of the head's
      // multiplexer maps to fewer LUTs in synth_xilinx than selecting on n_pop: 117 vs 124)
      if (emit) begin
        if (n[1]) begin
          out_data <= hold;
        end else if (push) begin
          out_data <= res;
        end
      end else if (push & (~out_valid)) begin
        out_data <= res;
      end
      if (push & (n_pop != 2'd0)) begin
        hold <= res;
      end
      n <= (n_pop + {1'b0, push});
    end
  end
endmodule
