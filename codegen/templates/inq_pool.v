// @{ header }@
// inq_pool: sliding-window max / average pooling (docs/hardware.md section 5). All KH x KW
// window taps are read in the same cycle; one output beat per cycle at most. K elements per
// beat (K | C; sections 2.1 and 5): a beat carries K channels of one pixel, channel g*K + i in
// bits [i*A +: A], in and out; the unit is the K = 1 unit over CG = C/K channel groups (every
// counter and address counts groups, a line-buffer word is one beat of K*A bits), and a fire
// computes the K windows of a group side by side (K lanes of the comparison or sum over the
// same taps). The line buffer is read synchronously (one registered read port per window tap,
// addressed with the next value of the tap's address, with forwarding of the word written at
// the same edge), so it maps to block RAM and behaves as the asynchronous reads of section 5.
// Its storage:
// * BANKED = 1 (the plan sets it when KH | SH, KW | SW, KH | H, KW | W and KH | NR, e.g. a
//   2x2 window of stride 4 on an even map): KH*KW banks of LB/(KH*KW) words. Bank (ky, kx)
//   holds the rows whose slot is ky mod KH and the columns x with x mod KW = kx, the beat of
//   group g of (slot, x) at word ((slot/KH)*(W/KW) + x/KW)*CG + g. Every window's top row has
//   a slot that is a multiple of KH and its first column one of KW, so tap (ky, kx) always
//   finds its beat in bank (ky, kx), and all taps read the same word: one read port per bank.
// * BANKED = 0: one copy of the whole buffer per tap.
module inq_pool #(
  parameter integer C         = 1,
  parameter integer H         = 2,
  parameter integer W         = 2,
  parameter integer KH        = 2,
  parameter integer KW        = 2,
  parameter integer SH        = 2,
  parameter integer SW        = 2,
  parameter integer OH        = 1,
  parameter integer OW        = 1,
  parameter integer NR        = 2,
  parameter integer A         = 8,
  parameter integer IN_SIGNED = 0,
  parameter integer AVG       = 0,
  parameter integer S         = 0,
  parameter integer SUMW      = 9,
  parameter integer BANKED    = 0,
  parameter integer K         = 1
) (
  input  wire           clk,
  input  wire           rst,
  input  wire [K*A-1:0] in_data,
  input  wire           in_valid,
  output wire           in_ready,
  output reg  [K*A-1:0] out_data,
  output reg            out_valid,
  input  wire           out_ready
);
  localparam integer KA     = K * A;   // a beat, and a word of the line buffer
  localparam integer CG     = C / K;   // channel groups: beats per pixel
  localparam integer ROWLEN = W * CG;
  localparam integer LB     = NR * ROWLEN;
  localparam integer T      = KH * KW;
  // storage: NB RAMs of LBA words (beats) each, which the window-address registers count; the
  // row base rb0 steps in units of WB words (a row, or a group of KH rows when banked)
  localparam integer NB     = (BANKED != 0) ? T : 1;
  localparam integer NRG    = (NR / KH < 1) ? 1 : NR / KH;
  localparam integer WB     = (BANKED != 0) ? (W / KW) * CG : ROWLEN;
  localparam integer LBA    = LB / NB;
  localparam integer LBD    = (LBA < 2) ? 2 : LBA;
  localparam integer LBW    = $clog2(LBD);
  localparam integer IYW    = $clog2(H + 1);
  localparam integer IEW    = $clog2(ROWLEN + 1);
  localparam integer CW     = $clog2(H + KH + NR + SH + 4) + 2;
  localparam integer OXW    = $clog2(OW + 1);
  localparam integer OYW    = $clog2(OH + 1);
  localparam integer CCW    = $clog2(CG + 1);

  localparam integer H_C_I = H;
  localparam [IYW-1:0] H_C = H_C_I[IYW-1:0];
  localparam integer ROW_LAST_I = ROWLEN - 1;
  localparam [IEW-1:0] ROW_LAST = ROW_LAST_I[IEW-1:0];
  localparam integer LB_LAST_I = LB - 1;
  localparam [LBW-1:0] LB_LAST = LB_LAST_I[LBW-1:0];
  localparam integer LB_X_I = LBA;
  localparam [LBW:0]   LB_X = LB_X_I[LBW:0];
  localparam [LBW-1:0] LB_L = LB_X_I[LBW-1:0];
  localparam integer RBSTEP_I = (BANKED != 0) ? ((SH / KH) % NRG) * WB : (SH % NR) * ROWLEN;
  localparam [LBW-1:0] RBSTEP = RBSTEP_I[LBW-1:0];
  // rows from the last output row's window top to the next image's: H - (OH-1)*SH, mod NR
  // (a multiple of KH when banked: KH row groups of WB words)
  localparam integer WROWS_I = (((H - (OH - 1) * SH) % NR) + NR) % NR;
  localparam integer WSTEP_I = (BANKED != 0) ? (WROWS_I / KH) * WB : WROWS_I * ROWLEN;
  localparam [LBW-1:0] WSTEP = WSTEP_I[LBW-1:0];
  localparam integer H_W_I = H;
  localparam [CW-1:0] H_W = H_W_I[CW-1:0];
  localparam integer SWC_I = (BANKED != 0) ? (SW / KW) * CG : SW * CG;
  localparam [LBW-1:0] SWC = SWC_I[LBW-1:0];
  localparam integer SH_C_I = SH;
  localparam [CW-1:0] SH_C = SH_C_I[CW-1:0];
  localparam integer KH_C_I = KH;
  localparam [CW-1:0] KH_C = KH_C_I[CW-1:0];
  localparam integer NR_C_I = NR;
  localparam [CW-1:0] NR_C = NR_C_I[CW-1:0];
  localparam integer OW_LAST_I = OW - 1;
  localparam [OXW-1:0] OW_LAST = OW_LAST_I[OXW-1:0];
  localparam integer OH_LAST_I = OH - 1;
  localparam [OYW-1:0] OH_LAST = OH_LAST_I[OYW-1:0];
  localparam integer C_LAST_I = CG - 1;
  localparam [CCW-1:0] C_LAST = C_LAST_I[CCW-1:0];

  reg [IYW-1:0] iy;
  reg [IEW-1:0] ie;
  reg           cdone;
  reg           ahead;
  reg [OYW-1:0] oy;
  reg [OXW-1:0] ox;
  reg [CCW-1:0] c;    // channel group of the next fire
  reg [CW-1:0]  lop;  // oy * SH
  reg [LBW-1:0] rb0;  // line-buffer base of the window's first row
  reg [LBW-1:0] oxc;  // ox * SW * CG
  reg [LBW-1:0] cco;  // c

  wire [CW-1:0] iyx     = {{(CW-IYW){1'b0}}, iy};
  wire          in_room = (iyx < (lop + NR_C));
  wire          in_next = ((iyx + H_W) < (lop + NR_C));
  assign in_ready       = ((iy != H_C) & (ahead ? in_next : (cdone | in_room)));
  wire          in_fire = (in_valid & in_ready);
  wire          rows_ok = (ahead | (iyx >= (lop + KH_C)));
  wire          emit_go = ((~out_valid) | out_ready);
  wire          fire    = ((~cdone) & rows_ok & emit_go);
  wire          end_pix = (c == C_LAST);
  wire          end_row = (end_pix & (ox == OW_LAST));
  wire          last_fire = (fire & end_row & (oy == OH_LAST));
  wire          img_wrap  = ((iy == H_C) & ((~ahead) | last_fire));

  // next values of the window-address registers (the read addresses of the taps). The
  // values a fire (or the reset) sets them to (*_s) depend on registers and rst only, so
  // they are computed beside fire, which then only selects (docs/hardware.md section 12:
  // the row test and fire are not in series with the address arithmetic); the read
  // addresses below follow the same pattern.
  wire [LBW:0]   rb0_sum = ({1'b0, rb0} + {1'b0, RBSTEP});
  wire [LBW-1:0] rb0_up  = ((rb0_sum >= LB_X) ? ((rb0 + RBSTEP) - LB_L) : (rb0 + RBSTEP));
  wire [LBW:0]   rb0_wsum = ({1'b0, rb0} + {1'b0, WSTEP});
  wire [LBW-1:0] rb0_nxt  = ((rb0_wsum >= LB_X) ? ((rb0 + WSTEP) - LB_L) : (rb0 + WSTEP));
  wire           adv = (rst | fire);   // the window-address registers change
  reg [LBW-1:0] rb0_s, oxc_s, cco_s;
  always @(*) begin
    rb0_s = rb0;
    oxc_s = oxc;
    cco_s = cco;
    if (rst) begin
      rb0_s = {LBW{1'b0}};
      oxc_s = {LBW{1'b0}};
      cco_s = {LBW{1'b0}};
    end else if (!end_pix) begin
      cco_s = (cco + 1'b1);
    end else begin
      cco_s = {LBW{1'b0}};
      if (ox != OW_LAST) begin
        oxc_s = (oxc + SWC);
      end else begin
        oxc_s = {LBW{1'b0}};
        rb0_s = ((oy != OH_LAST) ? rb0_up : rb0_nxt);
      end
    end
  end
  wire [LBW-1:0] rb0_n = (adv ? rb0_s : rb0);
  wire [LBW-1:0] oxc_n = (adv ? oxc_s : oxc);
  wire [LBW-1:0] cco_n = (adv ? cco_s : cco);
  always @(posedge clk) begin
    rb0 <= rb0_n;
    oxc <= oxc_n;
    cco <= cco_n;
  end

  // window taps: registered reads at the next address, forwarding the word (beat) written
  // at the same edge
  wire          we = ((~rst) & in_fire);
  reg  [KA-1:0] wd_q;
  always @(posedge clk) begin
    wd_q <= in_data;
  end
  // tap t's word in bits [t*KA +: KA]: lane i of tap t in [(t*K + i)*A +: A]
  wire [T*KA-1:0] tv;
  genvar ky, kx, t;
  generate
    if (BANKED != 0) begin : g_banked
      localparam integer KXW = (KW < 2) ? 1 : $clog2(KW);
      localparam integer KYW = (KH < 2) ? 1 : $clog2(KH);
      localparam integer KX_LAST_I = KW - 1;
      localparam [KXW-1:0] KX_LAST = KX_LAST_I[KXW-1:0];
      localparam integer KY_LAST_I = KH - 1;
      localparam [KYW-1:0] KY_LAST = KY_LAST_I[KYW-1:0];
      localparam integer C_M1_I = CG - 1;
      localparam [LBW-1:0] C_M1 = C_M1_I[LBW-1:0];
      localparam integer WB_M1_I = WB - 1;
      localparam [LBW-1:0] WB_M1 = WB_M1_I[LBW-1:0];
      localparam integer LBA_LAST_I = LBA - 1;
      localparam [LBW-1:0] LBA_LAST = LBA_LAST_I[LBW-1:0];
      // write position: bank (wy, wx), word ww, channel group wc of the next beat
      reg [LBW-1:0] ww;
      reg [CCW-1:0] wc;
      reg [KXW-1:0] wx;
      reg [KYW-1:0] wy;
      always @(posedge clk) begin
        if (rst) begin
          ww <= {LBW{1'b0}};
          wc <= {CCW{1'b0}};
          wx <= {KXW{1'b0}};
          wy <= {KYW{1'b0}};
        end else if (in_fire) begin
          if (wc != C_LAST) begin
            wc <= (wc + 1'b1);
            ww <= (ww + 1'b1);
          end else begin
            wc <= {CCW{1'b0}};
            if (wx != KX_LAST) begin
              // next column of the same group: the group's first word, next bank
              wx <= (wx + 1'b1);
              ww <= (ww - C_M1);
            end else begin
              wx <= {KXW{1'b0}};
              if (ie != ROW_LAST) begin
                ww <= (ww + 1'b1);
              end else if (wy != KY_LAST) begin
                // next row of the same row group: its first word, next bank row
                wy <= (wy + 1'b1);
                ww <= (ww - WB_M1);
              end else begin
                wy <= {KYW{1'b0}};
                ww <= ((ww == LBA_LAST) ? {LBW{1'b0}} : (ww + 1'b1));
              end
            end
          end
        end
      end
      // every tap reads the same word of its own bank
      wire [LBW-1:0] ra_s = ((rb0_s + oxc_s) + cco_s);
      reg  [LBW-1:0] ra_q;   // the current read word (rb0 + oxc + cco)
      wire [LBW-1:0] ra_n = (adv ? ra_s : ra_q);
      wire           hit  = (adv ? (ww == ra_s) : (ww == ra_q));
      always @(posedge clk) begin
        ra_q <= ra_n;
      end
      for (t = 0; t < T; t = t + 1) begin : g_bank
        localparam integer KY_I = t / KW;
        localparam integer KX_I = t % KW;
        localparam [KYW-1:0] KYB = KY_I[KYW-1:0];
        localparam [KXW-1:0] KXB = KX_I[KXW-1:0];
        wire         wen = (we & (wy == KYB) & (wx == KXB));
        reg [KA-1:0] mem [0:LBD-1];
        reg [KA-1:0] rd;
        reg          fwd;
        always @(posedge clk) begin
          if (wen) begin
            mem[ww] <= in_data;
          end
          rd <= mem[ra_n];
        end
        always @(posedge clk) begin
          fwd <= (wen & hit);
        end
        assign tv[t*KA +: KA] = (fwd ? wd_q : rd);
      end
    end else begin : g_copies
      reg [LBW-1:0] wp;
      reg [KA-1:0]  lb [0:LBD-1];
      always @(posedge clk) begin
        if (rst) begin
          wp <= {LBW{1'b0}};
        end else if (in_fire) begin
          wp <= ((wp == LB_LAST) ? {LBW{1'b0}} : (wp + 1'b1));
        end
        if (we) begin
          lb[wp] <= in_data;
        end
      end
      for (ky = 0; ky < KH; ky = ky + 1) begin : g_row
        localparam integer KOFF_I = ky * ROWLEN;
        localparam [LBW:0] KOFF_X = KOFF_I[LBW:0];
        localparam [LBW-1:0] KOFF = KOFF_I[LBW-1:0];
        wire [LBW:0]   rsum = ({1'b0, rb0_s} + KOFF_X);
        wire [LBW-1:0] rbk  = ((rsum >= LB_X) ? ((rb0_s + KOFF) - LB_L) : (rb0_s + KOFF));
        for (kx = 0; kx < KW; kx = kx + 1) begin : g_col
          localparam integer XOFF_I = kx * CG;
          localparam [LBW-1:0] XOFF = XOFF_I[LBW-1:0];
          wire [LBW-1:0] la_s = (((rbk + oxc_s) + XOFF) + cco_s);
          reg  [LBW-1:0] la_q;   // the tap's current read address
          wire [LBW-1:0] la_n = (adv ? la_s : la_q);
          reg [KA-1:0] rd;
          reg          fwd;
          always @(posedge clk) begin
            rd <= lb[la_n];
            la_q <= la_n;
            fwd <= (we & (adv ? (wp == la_s) : (wp == la_q)));
          end
          assign tv[(ky*KW + kx)*KA +: KA] = (fwd ? wd_q : rd);
        end
      end
    end
  endgenerate

  // the window results, lane i (channel c*K + i) in bits [i*A +: A]: one comparison or sum
  // per lane over the same taps
  wire [KA-1:0] res;
  genvar li;
  generate
    for (li = 0; li < K; li = li + 1) begin : g_lane
      if (AVG == 0) begin : g_max
        integer i;
        reg [A-1:0] m;
        always @(*) begin
          m = tv[li*A +: A];
          for (i = 1; i < T; i = i + 1) begin
            if (IN_SIGNED != 0) begin
              if ($signed(tv[(i*K + li)*A +: A]) > $signed(m)) m = tv[(i*K + li)*A +: A];
            end else begin
              if (tv[(i*K + li)*A +: A] > m) m = tv[(i*K + li)*A +: A];
            end
          end
        end
        assign res[li*A +: A] = m;
      end else begin : g_avg
        integer i;
        reg [SUMW-1:0] sum;
        wire [SUMW-1:0] one = {{(SUMW-1){1'b0}}, 1'b1};
        wire [SUMW-1:0] rnd = ((S == 0) ? {SUMW{1'b0}} : (one << (S - 1)));
        /* verilator lint_off UNUSED */
        // Justification: the rounded average of A-bit values fits A bits; the upper bits of
        // the SUMW-bit shifted sum are sign copies.
        wire [SUMW-1:0] avg = ($signed(sum + rnd) >>> S);
        /* verilator lint_on UNUSED */
        always @(*) begin
          sum = {SUMW{1'b0}};
          for (i = 0; i < T; i = i + 1) begin
            sum = (sum + {{(SUMW-A){((IN_SIGNED != 0) ? tv[(i*K + li)*A + A - 1] : 1'b0)}},
                          tv[(i*K + li)*A +: A]});
          end
        end
        assign res[li*A +: A] = avg[A-1:0];
      end
    end
  endgenerate

  always @(posedge clk) begin
    if (rst) begin
      iy <= {IYW{1'b0}};
      ie <= {IEW{1'b0}};
      cdone <= 1'b0;
      ahead <= 1'b0;
      oy <= {OYW{1'b0}};
      ox <= {OXW{1'b0}};
      c <= {CCW{1'b0}};
      lop <= {CW{1'b0}};
      out_valid <= 1'b0;
      out_data <= {KA{1'b0}};
    end else begin
      if (in_fire) begin
        if (ie == ROW_LAST) begin
          ie <= {IEW{1'b0}};
          iy <= (iy + 1'b1);
        end else begin
          ie <= (ie + 1'b1);
        end
      end
      if (img_wrap) begin
        iy <= {IYW{1'b0}};
        ie <= {IEW{1'b0}};
        cdone <= 1'b0;
        ahead <= (ahead | (~(cdone | last_fire)));
      end else if (last_fire) begin
        if (ahead) begin
          ahead <= 1'b0;
        end else begin
          cdone <= 1'b1;
        end
      end
      if (emit_go) begin
        out_valid <= fire;
      end
      if (fire) begin
        out_data <= res;
        if (!end_pix) begin
          c <= (c + 1'b1);
        end else begin
          c <= {CCW{1'b0}};
          if (ox != OW_LAST) begin
            ox <= (ox + 1'b1);
          end else begin
            ox <= {OXW{1'b0}};
            if (oy != OH_LAST) begin
              oy <= (oy + 1'b1);
              lop <= (lop + SH_C);
            end else begin
              oy <= {OYW{1'b0}};
              lop <= {CW{1'b0}};
            end
          end
        end
      end
    end
  end
endmodule
