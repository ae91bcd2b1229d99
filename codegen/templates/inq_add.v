// @{ header }@
// inq_add: elementwise adder of two streams with requantization (docs/hardware.md section 5b,
// docs/numerics.md section 6a). Both inputs transfer together; the sum of the aligned inputs
// (a << SA) + (b << SB) is requantized (rounding right shift by R, or left shift by -R) and
// saturated (an unsigned output clamps negative values to 0: ReLU) into the output register.
// No multiplier: the alignment and the requantization are shifts. K elements per beat
// (docs/hardware.md section 2.1): K lanes add side by side, lane i in bits [i*W +: W].
module inq_add #(
  parameter integer AW         = 8,
  parameter integer A_SIGNED   = 0,
  parameter integer BW         = 8,
  parameter integer B_SIGNED   = 0,
  parameter integer SA         = 0,
  parameter integer SB         = 0,
  parameter integer SUMW       = 10,
  parameter integer R          = 0,
  parameter integer RW         = 11,
  parameter integer OUT_W      = 8,
  parameter integer OUT_SIGNED = 0,
  parameter integer K          = 1
) (
  input  wire               clk,
  input  wire               rst,
  input  wire [K*AW-1:0]    a_data,
  input  wire               a_valid,
  output wire               a_ready,
  input  wire [K*BW-1:0]    b_data,
  input  wire               b_valid,
  output wire               b_ready,
  output reg  [K*OUT_W-1:0] out_data,
  output reg                out_valid,
  input  wire               out_ready
);
  // Right shift: R, limited to SUMW. Exact: for R >= SUMW every SUMW-bit sum s gives
  // (s + 2^(R-1)) >> R = 0, as does the shift by SUMW (and 2^(SUMW-1) fits RW > SUMW bits).
  localparam integer RR  = (R > SUMW) ? SUMW : ((R > 0) ? R : 0);
  localparam integer RM1 = (RR > 0) ? (RR - 1) : 0;
  localparam integer LS  = (R < 0) ? (0 - R) : 0;
  localparam [RW-1:0] ONE = {{(RW-1){1'b0}}, 1'b1};
  localparam [RW-1:0] RND = (RR > 0) ? (ONE << RM1) : {RW{1'b0}};

  wire emit_go = ((~out_valid) | out_ready);
  assign a_ready = (emit_go & b_valid);
  assign b_ready = (emit_go & a_valid);
  wire take = ((a_valid & b_valid) & emit_go);

  wire [K*OUT_W-1:0] y;
  genvar i;
  generate
    for (i = 0; i < K; i = i + 1) begin : g_lane
      wire [AW-1:0] ad = a_data[i*AW +: AW];
      wire [BW-1:0] bd = b_data[i*BW +: BW];
      // ---- aligned sum (operands sign- or zero-extended to SUMW bits) ----
      wire [SUMW-1:0] ae = {{(SUMW-AW){((A_SIGNED != 0) ? ad[AW-1] : 1'b0)}}, ad};
      wire [SUMW-1:0] be = {{(SUMW-BW){((B_SIGNED != 0) ? bd[BW-1] : 1'b0)}}, bd};
      wire [SUMW-1:0] s  = ((ae << SA) + (be << SB));

      // ---- requantization (as the MVU's, docs/hardware.md section 4) ----
      wire [RW-1:0] se = {{(RW-SUMW){s[SUMW-1]}}, s};
      wire [RW-1:0] tr = ($signed(se + RND) >>> RR);
      wire [RW-1:0] tl = (se << LS);
      wire [RW-1:0] t  = ((R > 0) ? tr : tl);
      if (OUT_SIGNED != 0) begin : g_signed
        wire [RW-OUT_W:0] hs = t[RW-1:OUT_W-1];
        wire ok = ((&hs) | (~(|hs)));
        assign y[i*OUT_W +: OUT_W] = (ok ? t[OUT_W-1:0] : (t[RW-1] ? {1'b1, {(OUT_W-1){1'b0}}} : {1'b0, {(OUT_W-1){1'b1}}}));
      end else begin : g_unsigned
        wire neg = t[RW-1];
        wire [RW-OUT_W-1:0] hi = t[RW-1:OUT_W];
        wire big = (|hi);
        // An unsigned output implies ReLU (validated by inq-model): negative sums clamp to 0.
        assign y[i*OUT_W +: OUT_W] = (neg ? {OUT_W{1'b0}} : (big ? {OUT_W{1'b1}} : t[OUT_W-1:0]));
      end
    end
  endgenerate

  always @(posedge clk) begin
    if (rst) begin
      out_valid <= 1'b0;
      out_data <= {(K*OUT_W){1'b0}};
    end else begin
      if (emit_go) begin
        out_valid <= take;
      end
      if (take) begin
        out_data <= y;
      end
    end
  end
endmodule
