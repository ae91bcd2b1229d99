// @{ header }@
// inq_gap: global average pooling (docs/hardware.md section 5a). One running sum per channel
// as the map streams in (no line buffer); at the last pixel each channel's rounded result
// shift_round(sum, S) goes into a result memory, from which the results leave in channel order
// while the next image streams in. No multiplier and no divider: the average is a shift.
// K elements per input beat (K | C; docs/hardware.md section 2.1): K channels' sums are
// updated side by side (one memory word of K sums and one of K results per channel group);
// the results leave one per beat.
module inq_gap #(
  parameter integer C         = 1,
  parameter integer HW        = 1,
  parameter integer A         = 8,
  parameter integer IN_SIGNED = 0,
  parameter integer S         = 0,
  parameter integer SUMW      = 9,
  parameter integer K         = 1
) (
  input  wire           clk,
  input  wire           rst,
  input  wire [K*A-1:0] in_data,
  input  wire           in_valid,
  output wire           in_ready,
  output reg  [A-1:0]   out_data,
  output reg            out_valid,
  input  wire           out_ready
);
  localparam integer CG  = C / K;                  // channel groups
  localparam integer CD  = (CG < 2) ? 2 : CG;
  localparam integer CCW = $clog2(CD);
  localparam integer KD  = (K < 2) ? 2 : K;
  localparam integer KW  = $clog2(KD);
  localparam integer PXW = $clog2(HW + 1);
  localparam integer PNW = $clog2(C + 1);

  localparam integer C_LAST_I = CG - 1;
  localparam [CCW-1:0] C_LAST = C_LAST_I[CCW-1:0];
  localparam integer K_LAST_I = K - 1;
  localparam [KW-1:0] K_LAST = K_LAST_I[KW-1:0];
  localparam integer HW_LAST_I = HW - 1;
  localparam [PXW-1:0] HW_LAST = HW_LAST_I[PXW-1:0];
  localparam integer C_P_I = C - K;                // pending at most C - K to take a last pixel
  localparam [PNW-1:0] C_P = C_P_I[PNW-1:0];
  localparam integer K_P_I = K;
  localparam [PNW-1:0] K_P = K_P_I[PNW-1:0];
  localparam integer SM1 = (S > 0) ? (S - 1) : 0;
  localparam [SUMW-1:0] ONE = {{(SUMW-1){1'b0}}, 1'b1};
  localparam [SUMW-1:0] RND = (S > 0) ? (ONE << SM1) : {SUMW{1'b0}};

  // ---- registers (reset values: docs/hardware.md section 5a) ----
  reg [CCW-1:0] c;        // channel group of the next input beat
  reg [PXW-1:0] pix;      // pixel of the next input beat
  reg [PNW-1:0] pending;  // results not yet emitted
  reg [CCW-1:0] chg;      // channel group of the next emitted result
  reg [KW-1:0]  chl;      // its lane
  reg [K*SUMW-1:0] acc [0:CD-1];
  reg [K*A-1:0]    res [0:CD-1];

  wire            last_pix = (pix == HW_LAST);
  assign          in_ready = ((~last_pix) | (pending <= C_P));
  wire            in_fire  = (in_valid & in_ready);
  wire [K*SUMW-1:0] accw   = acc[c];
  wire [K*SUMW-1:0] sums;
  wire [K*A-1:0]    avgs;
  genvar i;
  generate
    for (i = 0; i < K; i = i + 1) begin : g_lane
      wire [A-1:0]    x    = in_data[i*A +: A];
      wire [SUMW-1:0] xe   = {{(SUMW-A){((IN_SIGNED != 0) ? x[A-1] : 1'b0)}}, x};
      wire [SUMW-1:0] base = ((pix == {PXW{1'b0}}) ? {SUMW{1'b0}} : accw[i*SUMW +: SUMW]);
      wire [SUMW-1:0] sum  = (base + xe);
      /* verilator lint_off UNUSED */
      // Justification: the rounded average of A-bit values fits A bits; the upper bits of the
      // SUMW-bit shifted sum are sign copies.
      wire [SUMW-1:0] avg  = ($signed(sum + RND) >>> S);
      /* verilator lint_on UNUSED */
      assign sums[i*SUMW +: SUMW] = sum;
      assign avgs[i*A +: A] = avg[A-1:0];
    end
  endgenerate
  wire            emit_go  = ((~out_valid) | out_ready);
  wire            emit     = (emit_go & (pending != {PNW{1'b0}}));
  wire            done     = (in_fire & last_pix);
  wire            c_last   = (c == C_LAST);
  wire [K*A-1:0]  resw     = res[chg];

  always @(posedge clk) begin
    if (rst) begin
      c <= {CCW{1'b0}};
      pix <= {PXW{1'b0}};
      pending <= {PNW{1'b0}};
      chg <= {CCW{1'b0}};
      chl <= {KW{1'b0}};
      out_valid <= 1'b0;
      out_data <= {A{1'b0}};
    end else begin
      // input side
      if (in_fire) begin
        acc[c] <= sums;
        if (last_pix) begin
          res[c] <= avgs;
        end
        c <= (c_last ? {CCW{1'b0}} : (c + 1'b1));
        if (c_last) begin
          pix <= (last_pix ? {PXW{1'b0}} : (pix + 1'b1));
        end
      end
      // emission side
      if (emit_go) begin
        out_valid <= (pending != {PNW{1'b0}});
      end
      if (emit) begin
        out_data <= resw[chl*A +: A];
        if ((K == 1) || (chl == K_LAST)) begin
          chl <= {KW{1'b0}};
          chg <= ((chg == C_LAST) ? {CCW{1'b0}} : (chg + 1'b1));
        end else begin
          chl <= (chl + 1'b1);
        end
      end
      if (done & (~emit)) begin
        pending <= (pending + K_P);
      end else if (done & emit) begin
        pending <= (pending + K_P - 1'b1);
      end else if (emit) begin
        pending <= (pending - 1'b1);
      end
    end
  end
endmodule
