// @{ header }@
// inq_mvu: sliding-window matrix-vector unit of PE x SIMD lanes with requantization
// (docs/hardware.md section 4). Conv layers, and dense layers as a 1x1 conv on a [N,1,1] map.
// BIAS_FILE and SHIFT_FILE name the per-channel tables (by file name, docs/hardware.md
// section 8); their defaults are empty so that the module elaborates on its own, and $readmemh
// is only called for a non-empty name.
@% if constant %@// No multiplier: products are (x << k) with a conditional negate. Multiplications below
// appear only in constant (localparam / genvar) expressions.
// This instance is fully unrolled (NF = SF = 1, docs/hardware.md section 4.1): every
// weight is a constant, each product is wiring (the input shifted by concatenating zeros),
// zero weights emit no term, and each PE sums its terms in an adder tree (a negative weight's
// term is subtracted). There is no weight ROM and no accumulator register.
@% if wide %@// Wide beats (docs/hardware.md section 2): an input beat carries KI channels of one pixel
// (KI | C, channel g*KI + i in bits [i*A +: A]) and an output beat KO results of the pixel
// (KO | PE, channel b*KO + i in bits [i*OUT_W +: OUT_W]); rows, pending and the emission count
// beats, and each of the KO output lanes has its own requantizer.
@% endif %@@% else %@// MUL = 0: no multiplier, products are (x << k) with a conditional negate; multiplications
// below appear only in constant (localparam / genvar) expressions. MUL = 1 (the int8
// baseline): the weight code is a CB-bit two's-complement integer and each lane multiplies.
// DW = 1: depthwise convolution (docs/hardware.md section 4.2): SIMD = 1, SF = KH*KW, and PE p
// of neuron fold nf reads channel nf*PE + p (PE line-buffer read ports instead of SIMD).
@% endif %@module @{ module_name }@ #(
  parameter integer C          = @{ self.default_of("C", "1") }@,
  parameter integer H          = @{ self.default_of("H", "1") }@,
  parameter integer W          = @{ self.default_of("W", "1") }@,
  parameter integer KH         = @{ self.default_of("KH", "1") }@,
  parameter integer KW         = @{ self.default_of("KW", "1") }@,
  parameter integer SH         = @{ self.default_of("SH", "1") }@,
  parameter integer SW         = @{ self.default_of("SW", "1") }@,
  parameter integer PT         = @{ self.default_of("PT", "0") }@,
  parameter integer PL         = @{ self.default_of("PL", "0") }@,
  parameter integer OC         = @{ self.default_of("OC", "1") }@,
  parameter integer OH         = @{ self.default_of("OH", "1") }@,
  parameter integer OW         = @{ self.default_of("OW", "1") }@,
  parameter integer NR         = @{ self.default_of("NR", "1") }@,
  parameter integer PE         = @{ self.default_of("PE", "1") }@,
  parameter integer SIMD       = @{ self.default_of("SIMD", "1") }@,
@% if !constant %@  parameter integer DW         = @{ self.default_of("DW", "0") }@,
@% endif %@  parameter integer A          = @{ self.default_of("A", "8") }@,
@% if !constant %@  parameter integer IN_SIGNED  = @{ self.default_of("IN_SIGNED", "0") }@,
@% endif %@  parameter integer PAD        = @{ self.default_of("PAD", "0") }@,
@% if !constant %@  parameter integer CB         = @{ self.default_of("CB", "4") }@,
  parameter integer PW         = @{ self.default_of("PW", "9") }@,
@% endif %@  parameter integer ACC_W      = @{ self.default_of("ACC_W", "16") }@,
  parameter integer RW         = @{ self.default_of("RW", "17") }@,
  parameter integer RMIN_R     = @{ self.default_of("RMIN_R", "0") }@,
  parameter integer RMIN_L     = @{ self.default_of("RMIN_L", "0") }@,
  parameter integer SHW        = @{ self.default_of("SHW", "1") }@,
  parameter integer OUT_W      = @{ self.default_of("OUT_W", "8") }@,
  parameter integer LOGITS     = @{ self.default_of("LOGITS", "0") }@,
  parameter integer OUT_SIGNED = @{ self.default_of("OUT_SIGNED", "0") }@,
  parameter integer SREG       = @{ self.default_of("SREG", "0") }@,
  parameter integer HREG       = @{ self.default_of("HREG", "0") }@,
  parameter integer HBW        = @{ self.default_of("HBW", "2") }@,
@% if !constant %@  parameter integer DREG       = @{ self.default_of("DREG", "0") }@,
  parameter integer DSPL       = @{ self.default_of("DSPL", "0") }@,
  parameter integer RREG       = @{ self.default_of("RREG", "0") }@,
  parameter integer WREG       = @{ self.default_of("WREG", "0") }@,
  parameter integer PREG       = @{ self.default_of("PREG", "0") }@,
  parameter integer SLREG      = @{ self.default_of("SLREG", "0") }@,
  parameter integer HSEL       = @{ self.default_of("HSEL", "0") }@,
  parameter integer LBSP       = @{ self.default_of("LBSP", "0") }@,
  parameter integer LBG        = @{ self.default_of("LBG", "1024") }@,
@% endif %@@% if wide %@  parameter integer KI         = @{ self.default_of("KI", "1") }@,
  parameter integer KO         = @{ self.default_of("KO", "1") }@,
@% endif %@@% if !constant %@  parameter integer WAW        = @{ self.default_of("WAW", "1") }@,
  parameter integer MUL        = @{ self.default_of("MUL", "0") }@,
  parameter integer MREG       = @{ self.default_of("MREG", "0") }@,
@% endif %@  parameter         BIAS_FILE  = "",
  parameter         SHIFT_FILE = ""
) (
  input  wire                   clk,
  input  wire                   rst,
@% if wide %@  input  wire [KI*A-1:0]        in_data,
@% else %@  input  wire [A-1:0]           in_data,
@% endif %@  input  wire                   in_valid,
  output wire                   in_ready,
@% if wide %@  output reg  [KO*OUT_W-1:0]    out_data,
@% else %@  output reg  [OUT_W-1:0]       out_data,
@% endif %@  output reg                    out_valid,
  input  wire                   out_ready@% if !constant %@,
  output wire [WAW-1:0]         w_addr,
  output wire                   w_en,
  input  wire [PE*SIMD*CB-1:0]  w_data@% endif %@
);
  // ---- derived constants ----
@% if wide %@  localparam integer NF     = OC / PE;
  localparam integer PB     = PE / KO;   // output beats per pixel
  localparam integer RBT    = (W * C) / KI;   // input beats per row
@% else %@  localparam integer NF     = OC / PE;
@% endif %@@% if constant %@  // the whole window in one fold (SIMD = KH * KW * C, or KH * KW with PE = C for a
  // depthwise convolution), so SF = 1 and icf stays 0
  localparam integer SF     = 1;
  localparam integer WIN    = KH * KW * C;   // window elements
  localparam integer CS     = 1;
  localparam integer LU     = 1;      // address unit: one element
@% else %@  // window lanes (line-buffer read ports): SIMD, or PE for a depthwise engine
  localparam integer NL     = (DW != 0) ? PE : SIMD;
  localparam integer SF     = (DW != 0) ? (KH * KW) : ((KH * KW * C) / SIMD);
  localparam integer CS     = (DW != 0) ? 1 : (C / SIMD);
  // The line buffer is banked by window lane: the NL lanes of a fold read NL consecutive
  // elements that start at a multiple of NL, so element e lives in bank e % NL at word
  // e / NL, each bank has one write and one synchronous read port (block RAM), and the
  // address registers below count words (LU elements).
  localparam integer LU     = NL;
@% endif %@  localparam integer ROWLEN = W * C;
  localparam integer LB     = NR * ROWLEN;
  localparam integer LBU    = LB / LU;   // words per bank
  localparam integer LBD    = (LBU < 2) ? 2 : LBU;
  localparam integer LBW    = $clog2(LBD);
  localparam integer TBD    = (OC < 2) ? 2 : OC;
  localparam integer CHW    = $clog2(TBD);
@% if wide %@  localparam integer CH1_I  = (OC / KO < 2) ? 0 : KO;
@% else %@  localparam integer CH1_I  = (OC < 2) ? 0 : 1;
@% endif %@  localparam [CHW-1:0] CH1  = CH1_I[CHW-1:0];
  localparam integer IYW    = $clog2(H + 1);
@% if wide %@  localparam integer IEW    = $clog2(RBT + 1);
@% else %@  localparam integer IEW    = $clog2(ROWLEN + 1);
@% endif %@  localparam integer CW     = $clog2(H + PT + KH + NR + SH + W + PL + KW + SW + 4) + 2;
  localparam integer SFW    = $clog2(SF + 1);
  localparam integer NFW    = $clog2(NF + 1);
  localparam integer OXW    = $clog2(OW + 1);
  localparam integer OYW    = $clog2(OH + 1);
  localparam integer KYW    = $clog2(KH + 1);
  localparam integer KXW    = $clog2(KW + 1);
  localparam integer ICW    = $clog2(CS + 1);
@% if wide %@  localparam integer PNW    = $clog2(PB + 1);
@% else %@  localparam integer PNW    = $clog2(PE + 1);
@% endif %@@% if wide %@  localparam integer OIW    = (PB > 1) ? $clog2(PB) : 1;
@% else %@  localparam integer OIW    = (PE > 1) ? $clog2(PE) : 1;
@% endif %@
  localparam integer H_C_I = H;
  localparam [IYW-1:0] H_C = H_C_I[IYW-1:0];
@% if wide %@  localparam integer ROW_LAST_I = RBT - 1;
@% else %@  localparam integer ROW_LAST_I = ROWLEN - 1;
@% endif %@  localparam [IEW-1:0] ROW_LAST = ROW_LAST_I[IEW-1:0];
@% if !constant %@  localparam integer LB_LAST_I = LBU - 1;
  localparam [LBW-1:0] LB_LAST = LB_LAST_I[LBW-1:0];
@% endif %@  localparam integer LB_X_I = LBU;
  localparam integer ROWLEN_L_I = ROWLEN / LU;
  localparam integer RB0_INIT_I = ((NR - (PT % NR)) % NR) * (ROWLEN / LU);
  localparam integer C_C_I = C / LU;
  localparam integer SWC_I = (SW * C) / LU;
  localparam integer SIMD_C_I = SIMD / LU;
@% if constant %@  localparam [LBW-1:0] RB0_INIT = RB0_INIT_I[LBW-1:0];
  localparam [LBW:0] LB_X = LB_X_I[LBW:0];
  localparam [LBW-1:0] LB_L = LB_X_I[LBW-1:0];
  localparam [LBW-1:0] ROWLEN_L = ROWLEN_L_I[LBW-1:0];
  localparam [LBW:0] ROWLEN_X = ROWLEN_L_I[LBW:0];
  localparam integer RBSTEP_I = (SH % NR) * (ROWLEN / LU);
  localparam [LBW-1:0] RBSTEP = RBSTEP_I[LBW-1:0];
  // rows from the last output row's window top to the next image's: H - (OH-1)*SH, mod NR
  localparam integer WSTEP_I = ((((H - (OH - 1) * SH) % NR) + NR) % NR) * (ROWLEN / LU);
  localparam [LBW-1:0] WSTEP = WSTEP_I[LBW-1:0];
  localparam [LBW-1:0] C_C = C_C_I[LBW-1:0];
  localparam [LBW-1:0] SWC = SWC_I[LBW-1:0];
  localparam [LBW-1:0] SIMD_C = SIMD_C_I[LBW-1:0];
@% endif %@@% if !constant %@  localparam integer PLC_I = (PL * C) / LU;
@% endif %@  localparam integer SH_C_I = SH;
  localparam [CW-1:0] SH_C = SH_C_I[CW-1:0];
  localparam integer SW_C_I = SW;
  localparam [CW-1:0] SW_C = SW_C_I[CW-1:0];
  localparam integer KH_C_I = KH;
  localparam [CW-1:0] KH_C = KH_C_I[CW-1:0];
  localparam integer PT_C_I = PT;
  localparam [CW-1:0] PT_C = PT_C_I[CW-1:0];
  localparam integer PL_C_I = PL;
  localparam [CW-1:0] PL_C = PL_C_I[CW-1:0];
  localparam integer NR_C_I = NR;
  localparam [CW-1:0] NR_C = NR_C_I[CW-1:0];
  localparam integer H_W_I = H;
  localparam [CW-1:0] H_W = H_W_I[CW-1:0];
  localparam integer W_W_I = W;
  localparam [CW-1:0] W_W = W_W_I[CW-1:0];
@% if constant %@  localparam integer SF_LAST_I = SF - 1;
  localparam [SFW-1:0] SF_LAST = SF_LAST_I[SFW-1:0];
@% endif %@  localparam integer NF_LAST_I = NF - 1;
  localparam [NFW-1:0] NF_LAST = NF_LAST_I[NFW-1:0];
  localparam integer OW_LAST_I = OW - 1;
  localparam [OXW-1:0] OW_LAST = OW_LAST_I[OXW-1:0];
  localparam integer OH_LAST_I = OH - 1;
  localparam [OYW-1:0] OH_LAST = OH_LAST_I[OYW-1:0];
  localparam integer KW_LAST_I = KW - 1;
  localparam [KXW-1:0] KW_LAST = KW_LAST_I[KXW-1:0];
  localparam integer CS_LAST_I = CS - 1;
@% if constant %@  localparam [ICW-1:0] CS_LAST = CS_LAST_I[ICW-1:0];
@% endif %@@% if !constant %@  // the values sf and icf have one fire before their last (unused when SF or CS is 1)
  localparam integer SF_PEN_I = (SF >= 2) ? (SF - 2) : 0;
  localparam [SFW-1:0] SF_PEN = SF_PEN_I[SFW-1:0];
  localparam integer CS_PEN_I = (CS >= 2) ? (CS - 2) : 0;
  localparam [ICW-1:0] CS_PEN = CS_PEN_I[ICW-1:0];
  localparam [0:0] SF_ONE = ((SF == 1) ? 1'b1 : 1'b0);
  localparam [0:0] CS_ONE = ((CS == 1) ? 1'b1 : 1'b0);
@% endif %@@% if wide %@  localparam integer OC_LAST_I = OC - KO;   // the first channel of the last beat
@% else %@  localparam integer OC_LAST_I = OC - 1;
@% endif %@@% if wide %@  localparam [CHW-1:0] OC_LAST = OC_LAST_I[CHW-1:0];
  localparam integer KO_I = KO;
  localparam [CHW-1:0] KO_C = KO_I[CHW-1:0];
@% else %@  localparam [CHW-1:0] OC_LAST = OC_LAST_I[CHW-1:0];
@% endif %@@% if wide %@  localparam integer PE_C_I = PB;
@% else %@  localparam integer PE_C_I = PE;
@% endif %@  localparam [PNW-1:0] PE_C = PE_C_I[PNW-1:0];
@% if wide %@  localparam integer OI_LAST_I = PB - 1;
@% else %@  localparam integer OI_LAST_I = PE - 1;
@% endif %@  localparam [OIW-1:0] OI_LAST = OI_LAST_I[OIW-1:0];
@% if !constant %@  localparam integer PE_L_I = PE / LU;
@% if wide %@  // a beat of KI elements (KI | NL) goes to the KI banks of group wl, at word wp
  localparam integer NL_LAST_I = NL / KI - 1;
  localparam integer NLW = (NL / KI < 2) ? 1 : $clog2(NL / KI);
@% else %@  localparam integer NL_LAST_I = NL - 1;
  localparam integer NLW = (NL < 2) ? 1 : $clog2(NL);
@% endif %@  localparam [NLW-1:0] NL_LAST = NL_LAST_I[NLW-1:0];
@% endif %@  localparam integer PAD_C_I = PAD;
  localparam [A-1:0] PAD_C = PAD_C_I[A-1:0];

  // ---- registers (reset values: docs/hardware.md section 4) ----
  reg [IYW-1:0] iy;
  reg [IEW-1:0] ie;
@% if constant %@@% if wide %@  // the next written beat's slot, column and channel group (banks (wsl, wc*KI + i), word wx)
@% else %@  // the next written element's slot, column and channel (bank (wsl, wc), word wx)
@% endif %@  localparam integer SLW = (NR < 2) ? 1 : $clog2(NR);
  localparam integer XW  = (W < 2) ? 1 : $clog2(W);
@% if wide %@  localparam integer CCW = (C / KI < 2) ? 1 : $clog2(C / KI);
@% else %@  localparam integer CCW = (C < 2) ? 1 : $clog2(C);
@% endif %@  localparam integer NR_LAST_I = NR - 1;
  localparam [SLW-1:0] NR_LAST = NR_LAST_I[SLW-1:0];
  localparam integer W_LAST_I = W - 1;
  localparam [XW-1:0] W_LAST = W_LAST_I[XW-1:0];
@% if wide %@  localparam integer C_LAST_I = C / KI - 1;
@% else %@  localparam integer C_LAST_I = C - 1;
@% endif %@  localparam [CCW-1:0] C_LAST = C_LAST_I[CCW-1:0];
  reg [SLW-1:0] wsl;
  reg [XW-1:0]  wx;
  reg [CCW-1:0] wc;
@% else %@  reg [LBW-1:0] wp;    // line-buffer write address (the word, in a banked buffer)
@% if wide %@  reg [NLW-1:0] wl;    // bank group of the next written beat (banks wl * KI + i)
@% else %@  reg [NLW-1:0] wl;    // bank of the next written element
@% endif %@@% endif %@  reg           cdone;
  reg           ahead;
  reg [OYW-1:0] oy;
  reg [OXW-1:0] ox;
  reg [NFW-1:0] nf;
  reg [SFW-1:0] sf;
  reg [KYW-1:0] ky;
  reg [KXW-1:0] kx;
  reg [ICW-1:0] icf;
  reg [CW-1:0]  lop;   // oy * SH (padded row coordinate of the window top)
  reg [CW-1:0]  oxs;   // ox * SW (padded column coordinate of the window left)
@% if constant %@  // line-buffer addresses in units of LU elements:
  reg [LBW-1:0] rb0;   // base of the window's first row
  reg [LBW-1:0] rb;    // base of row ky
  reg [LBW-1:0] oxc;   // ox * SW * C
  reg [LBW-1:0] kxc;   // kx * C
  reg [LBW-1:0] co;    // icf * SIMD
@% else %@  // line-buffer row slots (the row base of slot s is s * ROWLEN / LU):
  localparam integer NRW = (NR < 2) ? 1 : $clog2(NR);
  reg [WAW-1:0] waddr_a; // the weight-ROM word of the fold after the next fire
@% endif %@  reg [PNW-1:0] pending;
@% if wide %@  reg [CHW-1:0] chn;   // the first channel of the beat after the one being emitted
@% else %@  reg [CHW-1:0] chn;   // the channel after the one being emitted (its table words are read)
@% endif %@
  // the per-channel tables (docs/hardware.md section 6): the bias plus the rounding constant,
  // and the shift above the smallest one; read into registers one emission ahead, so they are
  // logic, not memories
  (* rom_style = "logic" *) reg [RW-1:0]  bias_t  [0:TBD-1];
  (* rom_style = "logic" *) reg [SHW-1:0] shift_t [0:TBD-1];
  generate
    if (BIAS_FILE != "") begin : g_bias_init
      initial begin
        $readmemh(BIAS_FILE, bias_t);
      end
    end
    if (SHIFT_FILE != "") begin : g_shift_init
      initial begin
        $readmemh(SHIFT_FILE, shift_t);
      end
    end
  endgenerate

  // ---- scheduling (docs/hardware.md section 4, combinational signals) ----
  wire [CW-1:0] iyx   = {{(CW-IYW){1'b0}}, iy};
  // The row tests compare iy with registers that change only when lop does (at a fire; their
  // updates follow lop_a below): need = lop + KH - PT, the rows the window needs; rl =
  // max(lop, PT) + NR - PT, the rows the buffer may hold; rlh = rl - H, one bit wider
  // (negative: no row of the next image fits). So the tests are one comparison each
  // (docs/hardware.md section 12).
  reg  [CW-1:0] need;
  reg  [CW-1:0] rl;
  reg  [CW:0]   rlh;
  wire          in_room = (iyx < rl);
  wire          in_next = ((~rlh[CW]) & (iyx < rlh[CW-1:0]));
  // HREG = 1 (docs/hardware.md section 12, "The row tests from differences"): the same tests
  // from the registers g_hs below, rl - iy against constants and the sign of iy - need
  wire          in_ready_h;
  wire          rows_ok_h;
  wire          iy_end;     // iy == H (with HREG = 1 a register of g_hs)
  assign in_ready     = ((HREG != 0) ? in_ready_h
                        : ((iy != H_C) & (ahead ? in_next : (cdone | in_room))));
  wire          in_fire = (in_valid & in_ready);
  wire          rows_ok_c = ((HREG != 0) ? rows_ok_h : (ahead | (iy == H_C) | (iyx >= need)));
  // SREG = 1 (docs/hardware.md section 12, "Registered schedule flags"): rows_ok and the
  // tests pending == 0 and pending == 1 are flip-flops holding the same values, their next
  // values computed beside fire from registers and selected by it, so fire starts from
  // flip-flops; SREG = 0: they are the comparisons themselves
  reg           rok;
  reg           pz;
  reg           p1;
  wire          rows_ok = (((SREG != 0) && (HREG == 0)) ? rok : rows_ok_c);
  // (HREG = 1 takes pz and p1 as well, and its own row test instead of rok)
  wire          pend0 = (((SREG != 0) || (HREG != 0)) ? pz : (pending == {PNW{1'b0}}));
  wire          pend1 = (((SREG != 0) || (HREG != 0)) ? p1 : (pending == {{(PNW-1){1'b0}}, 1'b1}));
  wire          emit_go = ((~out_valid) | out_ready);
@% if constant %@  wire          last_sf = (sf == SF_LAST);
  wire          icl = (icf == CS_LAST);
@% else %@  // sf == SF_LAST and icf == CS_LAST, kept in registers (their next values are compared
  // from the counters beside fire, not after them: docs/hardware.md section 12)
  reg           last_sf;
  reg           icl;
@% endif %@  wire          obuf_free = (pend0 | (pend1 & emit_go));
@% if pipe > 0 %@  // pipeline registers in the adder trees: @{ pipe }@ (docs/hardware.md section 4.1). pv[i]
  // says stage i+1 holds a fired window; the stages advance together (adv) when the last one
  // is empty or obuf frees, and the last one then loads obuf
  reg  [@{ pipe - 1 }@:0] pv;
  wire          tail = pv[@{ pipe - 1 }@];
  wire          adv = ((~tail) | obuf_free);
  wire          fire = ((~cdone) & rows_ok & adv);
  wire          load = (tail & obuf_free);
@% else if constant %@  wire          fire = ((~cdone) & rows_ok & ((~last_sf) | obuf_free));
  wire          load = (fire & last_sf);
@% else %@  // DREG = 1 (docs/hardware.md section 4, "Datapath registers"): each PE's lanes' sum is
  // registered before the accumulator. RREG = 1 ("The datapath register at the read"): the
  // fired fold's words are read at its own edge into registers in front of the lanes. Each
  // is a stage; dv says the last stage holds a fired fold, dt that this fold is its pixel's
  // last (dt implies dv); the stages advance together (adv) unless the last one holds a last
  // fold that waits for obuf, which it then loads. Neither: a fold's sum reaches the
  // accumulator, and a last one obuf, at its own fire (no stage is generated at all).
  /* verilator lint_off UNUSED */
  // Justification: adv enables only the stages' registers; it is 1 without them.
  wire          adv;
  /* verilator lint_on UNUSED */
  wire          fire;
  wire          load;
  // the fold whose sum the accumulator takes at this edge, and whether it ends its pixel
  wire          dfire;
  wire          dlast;
  generate
    if ((DREG != 0) || (RREG != 0) || (MREG != 0)) begin : g_dstage
      // NST stages in a chain (the read registers' first, then the read's second stage
      // (LBSP), then the multipliers' halves (MREG), then the sum's): stage i holds
      // vs[i] (a fired fold) and ts[i] (its pixel's last), loaded from fire at the front and
      // from the stage before it behind (the vectors hold only the registers, so no
      // combinational signal shares a vector with them)
      localparam integer NST = ((DREG != 0) ? 1 : 0) + ((RREG != 0) ? 1 : 0)
                             + (((RREG != 0) && (LBSP != 0)) ? 1 : 0) + ((MREG != 0) ? 1 : 0);
      wire [NST-1:0] vs;
      wire [NST-1:0] ts;
      genvar gs;
      for (gs = 0; gs < NST; gs = gs + 1) begin : g_st
        wire vin;
        wire tin;
        if (gs == 0) begin : g_front
          assign vin = fire;
          assign tin = (fire & last_sf);
        end else begin : g_behind
          assign vin = vs[gs - 1];
          assign tin = ts[gs - 1];
        end
        reg vq;
        reg tq;
        always @(posedge clk) begin
          if (rst) begin
            vq <= 1'b0;
            tq <= 1'b0;
          end else if (adv) begin
            vq <= vin;
            tq <= tin;
          end
        end
        assign vs[gs] = vq;
        assign ts[gs] = tq;
      end
      wire dv = vs[NST - 1];
      wire dt = ts[NST - 1];
      assign adv = ((~dt) | obuf_free);
      assign fire = ((~cdone) & rows_ok & adv);
      assign load = (dt & obuf_free);
      assign dfire = (dv & adv);
      assign dlast = dt;
    end else begin : g_nostage
      assign adv = 1'b1;
      assign fire = ((~cdone) & rows_ok & ((~last_sf) | obuf_free));
      assign load = (fire & last_sf);
      assign dfire = fire;
      assign dlast = last_sf;
    end
  endgenerate
@% endif %@@% if constant %@  wire          nfl = (nf == NF_LAST);
  wire          oxl = (ox == OW_LAST);
  wire          oyl = (oy == OH_LAST);
@% else %@  // nf, ox, oy at their last values: comparisons, or with PREG = 1 flip-flops of the same
  // values (loaded at each fire with their values after it, by the window address below)
  wire          nfl;
  wire          oxl;
  wire          oyl;
@% endif %@  wire          end_pix = (last_sf & nfl);
  wire          end_row = (end_pix & oxl);
  wire          last_fire = (fire & end_row & oyl);
  wire          img_wrap = (iy_end & ((~ahead) | last_fire));
  wire          emit = (emit_go & (~pend0));

@% if constant %@  // ---- line-buffer row bases, advanced modulo the buffer ----
  wire [LBW:0]   rb_sum  = ({1'b0, rb} + ROWLEN_X);
  wire [LBW-1:0] rb_up   = ((rb_sum >= LB_X) ? ((rb + ROWLEN_L) - LB_L) : (rb + ROWLEN_L));
  wire [LBW:0]   rb0_sum = ({1'b0, rb0} + {1'b0, RBSTEP});
  wire [LBW-1:0] rb0_up  = ((rb0_sum >= LB_X) ? ((rb0 + RBSTEP) - LB_L) : (rb0 + RBSTEP));
  wire [LBW:0]   rb0_wsum = ({1'b0, rb0} + {1'b0, WSTEP});
  wire [LBW-1:0] rb0_nxt  = ((rb0_wsum >= LB_X) ? ((rb0 + WSTEP) - LB_L) : (rb0 + WSTEP));

  // ---- next values of the window-address registers (also the read address of a banked
  // line buffer). The values a fire advances them to (*_a) depend on registers only, so
  // they are computed beside fire, which then only selects (docs/hardware.md section 12:
  // the row test and fire are not in series with the address arithmetic) ----
  reg [LBW-1:0] rb0_a, rb_a, oxc_a, kxc_a, co_a;
  always @(*) begin
    rb0_a = rb0;
    rb_a = rb;
    oxc_a = oxc;
    kxc_a = kxc;
    co_a = co;
    if (!last_sf) begin
      if (icl) begin
        co_a = {LBW{1'b0}};
        if (kx == KW_LAST) begin
          kxc_a = {LBW{1'b0}};
          rb_a = rb_up;
        end else begin
          kxc_a = (kxc + C_C);
        end
      end else begin
        co_a = (co + SIMD_C);
      end
    end else begin
      co_a = {LBW{1'b0}};
      kxc_a = {LBW{1'b0}};
      rb_a = rb0;
      if (nf == NF_LAST) begin
        if (ox != OW_LAST) begin
          oxc_a = (oxc + SWC);
        end else begin
          oxc_a = {LBW{1'b0}};
          if (oy != OH_LAST) begin
            rb0_a = rb0_up;
            rb_a = rb0_up;
          end else begin
            rb0_a = rb0_nxt;
            rb_a = rb0_nxt;
          end
        end
      end
    end
  end
  wire [LBW-1:0] rb0_n = (rst ? RB0_INIT : (fire ? rb0_a : rb0));
  wire [LBW-1:0] rb_n = (rst ? RB0_INIT : (fire ? rb_a : rb));
  wire [LBW-1:0] oxc_n = (rst ? {LBW{1'b0}} : (fire ? oxc_a : oxc));
  wire [LBW-1:0] kxc_n = (rst ? {LBW{1'b0}} : (fire ? kxc_a : kxc));
  wire [LBW-1:0] co_n = (rst ? {LBW{1'b0}} : (fire ? co_a : co));
  always @(posedge clk) begin
    rb0 <= rb0_n;
    rb <= rb_n;
    oxc <= oxc_n;
    kxc <= kxc_n;
    co <= co_n;
  end
@% else %@  // ---- the window address of a banked line buffer, advanced by a delta ----
  // The read address ra = rb + ox*SW*C + kx*C + icf*SIMD [+ nf*PE] - PL*C (in LU units,
  // modulo 2^LBW; rb the base of row ky's slot) changes at a fire by a delta that depends only
  // on which window counters wrap and on whether the row slots wrap around the buffer: a
  // constant of the instance, selected by flags of registers. So the address after the next
  // fire is a register of its own, advanced by one adder (ra_a below; docs/hardware.md
  // sections 4 and 12), and only the slots of the window's first row (s0) and of row ky (sr)
  // are kept, not the address terms.
  localparam integer NR_LAST_S_I = NR - 1;
  localparam [NRW-1:0] NR_LAST_S = NR_LAST_S_I[NRW-1:0];
  localparam integer SHM_I = SH % NR;                                   // slots per row step
  localparam integer WRS_I = (((H - (OH - 1) * SH) % NR) + NR) % NR;    // slots per image
  localparam integer S0_INIT_I = (NR - (PT % NR)) % NR;
  localparam [NRW-1:0] S0_INIT = S0_INIT_I[NRW-1:0];
  // thresholds of s0: the window's last row wraps (s0 + KH - 1 >= NR), the next output row's
  // first row wraps (s0 + SH % NR >= NR), the next image's does (s0 + WRS >= NR)
  localparam integer TH_L_I = NR - KH + 1;
  localparam integer TH_0_I = NR - SHM_I;
  localparam integer TH_W_I = NR - WRS_I;
  localparam [NRW:0] TH_L = TH_L_I[NRW:0];
  localparam [NRW:0] TH_0 = TH_0_I[NRW:0];
  localparam [NRW:0] TH_W = TH_W_I[NRW:0];
  // the deltas (as integers; the address registers keep them modulo 2^LBW)
  localparam integer R_I    = ROWLEN_L_I;
  localparam integer LBU_I  = LB_X_I;
  localparam integer COL_I  = CS_LAST_I * SIMD_C_I;                     // icf*SIMD at its wrap
  localparam integer KWC_I  = KW_LAST_I * C_C_I;                        // kx*C at its wrap
  localparam integer PEL_I  = (DW != 0) ? PE_L_I : 0;
  localparam integer NFL_I  = (DW != 0) ? (NF_LAST_I * PE_L_I) : 0;     // nf*PE at its wrap
  localparam integer OXL_I  = OW_LAST_I * SWC_I;                        // ox*SW*C at its wrap
  localparam integer BACK_I = 0 - ((KH - 1) * R_I) - KWC_I - COL_I;      // to the window's start
  localparam integer D_CO_I  = SIMD_C_I;
  localparam integer D_KX_I  = C_C_I - COL_I;
  localparam integer D_KY_I  = R_I - KWC_I - COL_I;
  localparam integer D_KYW_I = D_KY_I - LBU_I;
  localparam integer D_NF_I  = BACK_I + PEL_I;
  localparam integer D_OX_I  = BACK_I - NFL_I + SWC_I;
  localparam integer D_OY_I  = BACK_I - NFL_I - OXL_I + SHM_I * R_I;
  localparam integer D_IM_I  = BACK_I - NFL_I - OXL_I + WRS_I * R_I;
  localparam [LBW-1:0] D_CO   = D_CO_I[LBW-1:0];
  localparam [LBW-1:0] D_KX   = D_KX_I[LBW-1:0];
  localparam [LBW-1:0] D_KY   = D_KY_I[LBW-1:0];
  localparam [LBW-1:0] D_KYW  = D_KYW_I[LBW-1:0];
  localparam integer D_NFW_I  = D_NF_I + LBU_I;
  localparam integer D_OXW_I  = D_OX_I + LBU_I;
  localparam integer D_OY01_I = D_OY_I - LBU_I;   // the next first row wraps
  localparam integer D_OY10_I = D_OY_I + LBU_I;   // the last row had wrapped
  localparam integer D_IM01_I = D_IM_I - LBU_I;
  localparam integer D_IM10_I = D_IM_I + LBU_I;
  localparam [LBW-1:0] D_NF   = D_NF_I[LBW-1:0];
  localparam [LBW-1:0] D_NFW  = D_NFW_I[LBW-1:0];
  localparam [LBW-1:0] D_OX   = D_OX_I[LBW-1:0];
  localparam [LBW-1:0] D_OXW  = D_OXW_I[LBW-1:0];
  localparam [LBW-1:0] D_OY   = D_OY_I[LBW-1:0];
  localparam [LBW-1:0] D_OY01 = D_OY01_I[LBW-1:0];
  localparam [LBW-1:0] D_OY10 = D_OY10_I[LBW-1:0];
  localparam [LBW-1:0] D_IM   = D_IM_I[LBW-1:0];
  localparam [LBW-1:0] D_IM01 = D_IM01_I[LBW-1:0];
  localparam [LBW-1:0] D_IM10 = D_IM10_I[LBW-1:0];
  // the delta of the first fire after reset (from the reset values of the counters and slots)
  localparam integer WRR0 = (S0_INIT_I == NR - 1) ? 1 : 0;
  localparam integer WRL0 = (S0_INIT_I >= TH_L_I) ? 1 : 0;
  localparam integer WR00 = (S0_INIT_I >= TH_0_I) ? 1 : 0;
  localparam integer WRW0 = (S0_INIT_I >= TH_W_I) ? 1 : 0;
  localparam integer D0_I =
      (SF != 1) ? ((CS != 1) ? D_CO_I : ((KW != 1) ? D_KX_I : ((WRR0 != 0) ? D_KYW_I : D_KY_I)))
    : (NF != 1) ? ((WRL0 != 0) ? D_NFW_I : D_NF_I)
    : (OW != 1) ? ((WRL0 != 0) ? D_OXW_I : D_OX_I)
    : (OH != 1) ? ((WRL0 == WR00) ? D_OY_I : ((WRL0 != 0) ? D_OY10_I : D_OY01_I))
    : ((WRL0 == WRW0) ? D_IM_I : ((WRL0 != 0) ? D_IM10_I : D_IM01_I));
  localparam [NRW-1:0] SHM_N = SHM_I[NRW-1:0];
  localparam [NRW-1:0] WRS_N = WRS_I[NRW-1:0];
  localparam integer NR_I = NR;
  localparam [NRW-1:0] NR_N  = NR_I[NRW-1:0];
  // The slots of the window's first row and of row ky after a fire, {s0, sr}, from the
  // slots s0v, srv before it, the flags of the position it fires at (lsf: the last synapse
  // fold; kl: the last channel fold of the last kernel column; pl: the pixel's last output
  // channels and the row's last column; yl: the map's last row) and the slots' wrap tests
  // (wr: row ky + 1 wraps to slot 0; w0, ww: the next output row's or image's first row
  // wraps). Applied to the current slots (below, the window address one fire ahead), or with
  // SLREG = 1 to the slots a fire ahead.
  function [2*NRW-1:0] slots_after;
    input [NRW-1:0] s0v;
    input [NRW-1:0] srv;
    input           lsf;
    input           kl;
    input           pl;
    input           yl;
    input           wr;
    input           w0;
    input           ww;
    reg   [NRW-1:0] s0n;
    reg   [NRW-1:0] srn;
    begin
      s0n = s0v;
      srn = srv;
      if (!lsf) begin
        if (kl) begin
          srn = (wr ? {NRW{1'b0}} : (srv + 1'b1));
        end
      end else begin
        srn = s0v;
        if (pl) begin
          if (!yl) begin
            s0n = (w0 ? ((s0v + SHM_N) - NR_N) : (s0v + SHM_N));
          end else begin
            s0n = (ww ? ((s0v + WRS_N) - NR_N) : (s0v + WRS_N));
          end
          srn = s0n;
        end
      end
      slots_after = {s0n, srn};
    end
  endfunction
@% endif %@
  // ---- window read: SIMD lanes share (ky, kx) ----
  // The window position after a fire (ky_a, kx_a, lop_a, oxs_a). The padding test inwin
  // (the window position is inside the map) is kept in registers like the window address,
  // so it is not in series with the lanes. (iyp - PT) < H is false for iyp < PT as well: the
  // difference wraps to a value >= H.
  reg [KYW-1:0] ky_a;
  reg [KXW-1:0] kx_a;
  reg [CW-1:0]  lop_a, oxs_a;
  always @(*) begin
    ky_a = ky;
    kx_a = kx;
    lop_a = lop;
    oxs_a = oxs;
    if (!last_sf) begin
      if (icl) begin
        if (kx == KW_LAST) begin
          kx_a = {KXW{1'b0}};
          ky_a = (ky + 1'b1);
        end else begin
          kx_a = (kx + 1'b1);
        end
      end
    end else begin
      kx_a = {KXW{1'b0}};
      ky_a = {KYW{1'b0}};
      if (nfl) begin
        if (!oxl) begin
          oxs_a = (oxs + SW_C);
        end else begin
          oxs_a = {CW{1'b0}};
          lop_a = ((!oyl) ? (lop + SH_C) : {CW{1'b0}});
        end
      end
    end
  end
  localparam integer NEED_I = KH - PT;
  localparam [CW-1:0] NEED0 = NEED_I[CW-1:0];
  localparam integer RLH_I = NR - H;
  localparam [CW:0] RLH0 = RLH_I[CW:0];
  wire [CW-1:0]  lo_mx_a = ((lop_a > PT_C) ? lop_a : PT_C);
  wire [CW-1:0]  rl_a = ((lo_mx_a + NR_C) - PT_C);
  wire [CW-1:0]  need_a = ((lop_a + KH_C) - PT_C);
  always @(posedge clk) begin
    if (rst) begin
      need <= NEED0;
      rl <= NR_C;
      rlh <= RLH0;
    end else if (fire) begin
      need <= need_a;
      rl <= rl_a;
      rlh <= ({1'b0, rl_a} - {1'b0, H_W});
    end
  end
  // the registered schedule flags (SREG = 1): rok's next value is the row test of the next
  // (iy, need, ahead), one of six comparisons of registers (iy kept, incremented by a
  // completed input row, or 0 at the image wrap; need kept or advanced by a fire) selected
  // by fire, the row completion and the wrap; pz and p1 follow pending
  localparam integer H_M1_I = H - 1;
  localparam [IYW-1:0] H_M1 = H_M1_I[IYW-1:0];
  localparam [0:0] ROK0 = ((NEED0 == {CW{1'b0}}) ? 1'b1 : 1'b0);
  localparam integer P2_I = 2;
  localparam [PNW:0] P2 = P2_I[PNW:0];
@% if wide %@  localparam [0:0] PE_ONE = ((PB == 1) ? 1'b1 : 1'b0);
@% else %@  localparam [0:0] PE_ONE = ((PE == 1) ? 1'b1 : 1'b0);
@% endif %@  wire           row_in = (in_fire & (ie == ROW_LAST));
  wire [CW:0]    iy1 = ({1'b0, iyx} + 1'b1);
  wire           r_kk = ((iy == H_C) | (iyx >= need));
  wire           r_ik = ((iy == H_M1) | (iy1 >= {1'b0, need}));
  wire           r_ka = ((iy == H_C) | (iyx >= need_a));
  wire           r_ia = ((iy == H_M1) | (iy1 >= {1'b0, need_a}));
  wire           r_zk = (need == {CW{1'b0}});
  wire           r_za = (need_a == {CW{1'b0}});
  wire           ahead_n = (img_wrap ? (ahead | (~(cdone | last_fire))) : (ahead & (~last_fire)));
  wire           r_n = (img_wrap ? (fire ? r_za : r_zk)
                      : (row_in ? (fire ? r_ia : r_ik) : (fire ? r_ka : r_kk)));
  always @(posedge clk) begin
    if (rst) begin
      rok <= ROK0;
      pz <= 1'b1;
      p1 <= 1'b0;
    end else begin
      rok <= (ahead_n | r_n);
      if (load) begin
        pz <= 1'b0;
        p1 <= PE_ONE;
      end else if (emit) begin
        pz <= pend1;
        p1 <= ({1'b0, pending} == P2);
      end
    end
  end
  // HREG = 1: the row tests from differences kept in registers (docs/hardware.md section 12,
  // "The row tests from differences"): dr = rl - iy, dq = iy - need and iyh = (iy == H), each
  // loaded at every edge with its value after it, dr and dq as themselves plus a step of the
  // events that change the limits (a fire that ends an output row, the image's last fire)
  // and one of those that change iy (a completed input row, the image wrap): rl grows by
  // dlt = clamp(lop + SH - PT, 0, SH) and
  // need by SH at a fire that ends an output row, both return to their reset values at the
  // image's last fire (where lop = (OH - 1) * SH), and iy = H at the wrap. Then
  // in_room = (dr >= 1), in_next = (dr >= H + 1) and iy >= need = (dq >= 0), so in_ready
  // and the row test start from these registers, not from comparisons of iy with rl, rlh
  // and need.
  generate
    if (HREG != 0) begin : g_hs
      // (HBW, the registers' width, comes from the plan, Mvu::row_diff_width: room for
      // +-max(H, the largest rl, the largest need))
      localparam integer RLL_I = ((((OH - 1) * SH) > PT) ? ((OH - 1) * SH) : PT) + NR - PT;
      localparam integer NR_HI = NR;
      localparam integer H_HI = H;
      localparam integer H1_HI = H + 1;
      localparam integer SH_HI = SH;
      localparam integer DL_HI = NR - RLL_I;            // rl's step at the image's last fire
      localparam integer LQ_HI = (OH - 1) * SH;         // need's step back there
      localparam integer NQ0_HI = PT - KH;              // -need after reset
      localparam [HBW-1:0] NR_D  = NR_HI[HBW-1:0];
      localparam [HBW-1:0] H_D   = H_HI[HBW-1:0];
      localparam [HBW-1:0] H1_D  = H1_HI[HBW-1:0];
      localparam [HBW-1:0] SH_D  = SH_HI[HBW-1:0];
      localparam [HBW-1:0] DL_D  = DL_HI[HBW-1:0];
      localparam [HBW-1:0] LQ_D  = LQ_HI[HBW-1:0];
      localparam [HBW-1:0] NQ0_D = NQ0_HI[HBW-1:0];
      localparam integer ONE_HI = 1;
      localparam integer MONE_HI = -1;
      localparam integer MSH_HI = -SH;
      localparam integer MH_HI = -H;
      localparam [HBW-1:0] ONE_D = ONE_HI[HBW-1:0];
      localparam [HBW-1:0] MONE_D = MONE_HI[HBW-1:0];
      localparam [HBW-1:0] MSH_D = MSH_HI[HBW-1:0];
      localparam [HBW-1:0] MH_D = MH_HI[HBW-1:0];
      reg [HBW-1:0] dr;
      reg [HBW-1:0] dq;
      reg           iyh;
      // dlt: how much rl grows at a fire that ends an output row but not the image,
      // clamp(lop + SH - PT, 0, SH); SH when PT = 0, else a register holding it for the
      // current lop, loaded with its value for lop + SH at such a fire and for lop = 0 at
      // the image's last fire
      wire [HBW-1:0] dlt;
      wire           step = (fire & end_row & (~oyl));
      if (PT == 0) begin : g_dlt_sh
        assign dlt = SH_D;
      end else begin : g_dlt
        localparam integer DLT0_I = (SH > PT) ? (SH - PT) : 0;
        localparam [HBW-1:0] DLT0 = DLT0_I[HBW-1:0];
        /* verilator lint_off UNUSED */
        // Justification: dlt is at most SH, so the bits of the wider sum above HBW are 0.
        wire [CW:0] lsh = ({1'b0, lop} + {1'b0, SH_C});
        wire [CW:0] lsh2 = (lsh + {1'b0, SH_C});
        wire [CW:0] dnext = ((lsh >= {1'b0, PT_C}) ? {1'b0, SH_C}
                           : ((lsh2 > {1'b0, PT_C}) ? (lsh2 - {1'b0, PT_C}) : {(CW+1){1'b0}}));
        /* verilator lint_on UNUSED */
        reg [HBW-1:0] dlt_q;
        always @(posedge clk) begin
          if (rst | last_fire) begin
            dlt_q <= DLT0;
          end else if (step) begin
            dlt_q <= dnext[HBW-1:0];
          end
        end
        assign dlt = dlt_q;
      end
      // dr and dq change by a step of the output side (a fire that ends an output row, the
      // image's last fire) plus one of the input side (a completed row, the wrap, where
      // iy = H): each is one sum of three terms, the events selecting constants (and dlt)
      wire [HBW-1:0] ar = (last_fire ? DL_D : (step ? dlt : {HBW{1'b0}}));
      wire [HBW-1:0] br = (img_wrap ? H_D : (row_in ? MONE_D : {HBW{1'b0}}));
      wire [HBW-1:0] aq = (last_fire ? LQ_D : (step ? MSH_D : {HBW{1'b0}}));
      wire [HBW-1:0] bq = (img_wrap ? MH_D : (row_in ? ONE_D : {HBW{1'b0}}));
      always @(posedge clk) begin
        if (rst) begin
          dr <= NR_D;
          dq <= NQ0_D;
          iyh <= 1'b0;
        end else begin
          dr <= ((dr + ar) + br);
          dq <= ((dq + aq) + bq);
          if (img_wrap) begin
            iyh <= 1'b0;
          end else if (row_in) begin
            iyh <= (iy == H_M1);
          end
        end
      end
      wire room = ((~dr[HBW-1]) & (dr != {HBW{1'b0}}));
      wire next = ((~dr[HBW-1]) & (dr >= H1_D));
      assign in_ready_h = ((~iyh) & (ahead ? next : (cdone | room)));
      assign rows_ok_h = (ahead | iyh | (~dq[HBW-1]));
      assign iy_end = iyh;
    end else begin : g_nohs
      assign in_ready_h = 1'b0;
      assign rows_ok_h = 1'b0;
      assign iy_end = (iy == H_C);
    end
  endgenerate
@% if constant %@  /* verilator lint_off UNUSED */
  // Justification: a constant-weight engine tests each window row and column on its own
  // (rowin, colin below); ky_a and kx_a stay 0 (SF = 1).
  wire [KYW+KXW-1:0] unused_k_a = {ky_a, kx_a};
  /* verilator lint_on UNUSED */
  // Constant-weight engine (docs/hardware.md section 4.1): the whole KH x KW x C window in one
  // fold. Each window row ky and column kx has its own padding test, kept in a register like
  // inwin: rowin[ky] = (lo + ky) in [0, H), colin[kx] = (ox*SW - PL + kx) in [0, W), their
  // values after a fire computed from registers (lop_a, oxs_a) and selected by rst and fire.
  // After reset the window is at (0, 0) of the padded map.
  wire [KH-1:0] rowin;
  wire [KW-1:0] colin;
  genvar gr;
  generate
    for (gr = 0; gr < KH; gr = gr + 1) begin : g_rowin
      localparam integer RY_I = gr;
      localparam [CW-1:0] RY = RY_I[CW-1:0];
      localparam [0:0] IN_I = (((gr >= PT) && (gr - PT < H)) ? 1'b1 : 1'b0);
      wire in_a = (((lop_a + RY) - PT_C) < H_W);
      reg  q;
      always @(posedge clk) begin
        q <= (rst ? IN_I : (fire ? in_a : q));
      end
      assign rowin[gr] = q;
    end
    for (gr = 0; gr < KW; gr = gr + 1) begin : g_colin
      localparam integer RX_I = gr;
      localparam [CW-1:0] RX = RX_I[CW-1:0];
      localparam [0:0] IN_I = (((gr >= PL) && (gr - PL < W)) ? 1'b1 : 1'b0);
      wire in_a = (((oxs_a + RX) - PL_C) < W_W);
      reg  q;
      always @(posedge clk) begin
        q <= (rst ? IN_I : (fire ? in_a : q));
      end
      assign colin[gr] = q;
    end
  endgenerate
@% else %@  // The padding test inwin of the current window position (docs/hardware.md section 12,
  // "The ROM-fed padding test selected, not computed"); after reset the window is at (0, 0)
  // of the padded map: inside unless padded there.
  wire           inwin;
  generate
    if (PREG != 0) begin : g_pad_sel
      // PREG = 1: inwin = (lop + ky - PT < H) & (oxs + kx - PL < W) as two flip-flops, the
      // row test rin and the column test cin. Their values after a fire are not tested on
      // the advanced position (a select, an add and a comparison in series) but selected,
      // by the same counter flags that advance it, from comparisons of the current
      // registers with the step each case adds: the next kernel row or column, the
      // window's first row or column at this output pixel, the next output row or column,
      // or the image's first window (a constant).
      /* verilator lint_off UNUSED */
      // Justification: the tests do not wait for the advanced row and column.
      wire [KYW+CW-1:0] unused_adv = {ky_a, oxs_a};
      /* verilator lint_on UNUSED */
      localparam [0:0] RIN_I = ((PT == 0) ? 1'b1 : 1'b0);
      localparam [0:0] CIN_I = ((PL == 0) ? 1'b1 : 1'b0);
      wire [CW-1:0] ky_w = {{(CW-KYW){1'b0}}, ky};
      wire [CW-1:0] kx_w = {{(CW-KXW){1'b0}}, kx};
      wire          r_ky1 = ((((lop + ky_w) + 1'b1) - PT_C) < H_W);
      wire          r_top = ((lop - PT_C) < H_W);
      wire          r_dn = (((lop + SH_C) - PT_C) < H_W);
      wire          c_kx1 = ((((oxs + kx_w) + 1'b1) - PL_C) < W_W);
      wire          c_lft = ((oxs - PL_C) < W_W);
      wire          c_rt = (((oxs + SW_C) - PL_C) < W_W);
      reg           rin;
      reg           cin;
      wire          kxl = (kx == KW_LAST);
      wire          rin_a = ((~last_sf) ? ((icl & kxl) ? r_ky1 : rin)
                           : ((nfl & oxl) ? ((~oyl) ? r_dn : RIN_I) : r_top));
      wire          cin_a = ((~last_sf) ? (icl ? (kxl ? c_lft : c_kx1) : cin)
                           : (nfl ? ((~oxl) ? c_rt : CIN_I) : c_lft));
      always @(posedge clk) begin
        rin <= (rst ? RIN_I : (fire ? rin_a : rin));
        cin <= (rst ? CIN_I : (fire ? cin_a : cin));
      end
      assign inwin = (rin & cin);
    end else begin : g_pad_adv
      // PREG = 0: one flip-flop, its value after a fire tested on the advanced position
      localparam [0:0] INWIN_I = (((PT == 0) && (PL == 0)) ? 1'b1 : 1'b0);
      wire [CW-1:0] iyr_a = ((lop_a + {{(CW-KYW){1'b0}}, ky_a}) - PT_C);
      wire [CW-1:0] ixr_a = ((oxs_a + {{(CW-KXW){1'b0}}, kx_a}) - PL_C);
      reg           q;
      always @(posedge clk) begin
        q <= (rst ? INWIN_I : (fire ? ((iyr_a < H_W) & (ixr_a < W_W)) : q));
      end
      assign inwin = q;
    end
  endgenerate
@% endif %@@% if constant %@  // Window read. The line buffer is NR * C banks: bank (sl, c) holds channel c of the row in
  // slot sl, one word per column (element (sl, x, c) of docs/hardware.md section 4 is word x
  // of bank (sl, c)), with one write port and one asynchronous read port per kernel column
  // kx at column ox*SW - PL + kx (the same address in every bank; a padded column reads a
  // word that is not used). rb is always slot sl * ROWLEN of the window's top row for some
  // sl < NR, and row ky of the window is in slot (sl + ky) mod NR: window element
  // (ky, kx, c) selects the read of bank ((sl + ky) mod NR, c) at kx by hit. A one-column
  // output map (a dense layer) reads fixed words: each bank becomes registers and each
  // element an NR:1 multiplexer.
  /* verilator lint_off UNUSED */
  // Justification: kxc and co are always 0 here (SF = 1); the column comes from oxs.
  wire [2*LBW-1:0] unused_zero_offsets = {kxc, co};
  /* verilator lint_on UNUSED */
  wire [NR-1:0] hit;   // hit[sl]: rb (the window's top row) is slot sl
  wire [WIN*A-1:0] xv;   // window element (ky*KW + kx)*C + c
  wire [KW*XW-1:0] col;   // the column read at kx (its low XW bits)
  genvar gx, sl, gc, gy;
  generate
    for (sl = 0; sl < NR; sl = sl + 1) begin : g_hit
      localparam integer RBR_I = sl * ROWLEN;
      localparam [LBW-1:0] RBR = RBR_I[LBW-1:0];
      assign hit[sl] = (rb == RBR);
    end
    for (gx = 0; gx < KW; gx = gx + 1) begin : g_col
      localparam integer KX_I = gx;
      localparam [CW-1:0] KX = KX_I[CW-1:0];
      wire [CW-1:0] cf = (((OW == 1) ? {CW{1'b0}} : oxs) + KX) - PL_C;
      assign col[gx*XW +: XW] = cf[XW-1:0];
      if (XW < CW) begin : g_high
        /* verilator lint_off UNUSED */
        // Justification: a column outside [0, W) is padding (colin); its read is not used.
        wire [CW-XW-1:0] unused_high = cf[CW-1:XW];
        /* verilator lint_on UNUSED */
      end
    end
    // rd[((sl * C + c) * KW + kx) * A +: A]: bank (sl, c) read at column kx
    wire [NR*C*KW*A-1:0] rd;
    for (sl = 0; sl < NR; sl = sl + 1) begin : g_slot
      localparam integer SL_I = sl;
      localparam [SLW-1:0] SL = SL_I[SLW-1:0];
      for (gc = 0; gc < C; gc = gc + 1) begin : g_bank
@% if wide %@        localparam integer CC_I = gc / KI;   // the channel group of the beats carrying gc
@% else %@        localparam integer CC_I = gc;
@% endif %@        localparam [CCW-1:0] CC = CC_I[CCW-1:0];
        reg [A-1:0] mem [0:W-1];
        always @(posedge clk) begin
          if ((~rst) & in_fire & (wsl == SL) & (wc == CC)) begin
@% if wide %@            mem[wx] <= in_data[(gc % KI)*A +: A];
@% else %@            mem[wx] <= in_data;
@% endif %@          end
        end
        for (gx = 0; gx < KW; gx = gx + 1) begin : g_rd
          // a one-column output map reads fixed columns: one that is always padding is not
          // read
          if ((OW == 1) && ((gx < PL) || (gx - PL >= W))) begin : g_pad
            assign rd[((sl*C + gc)*KW + gx)*A +: A] = PAD_C;
          end else begin : g_mem
            assign rd[((sl*C + gc)*KW + gx)*A +: A] = mem[col[gx*XW +: XW]];
          end
        end
      end
    end
    for (gy = 0; gy < KH; gy = gy + 1) begin : g_row
      // the top row's slot that puts row ky in slot i: (i - ky) mod NR
      localparam integer KYM = gy % NR;
      for (gx = 0; gx < KW; gx = gx + 1) begin : g_kx
        for (gc = 0; gc < C; gc = gc + 1) begin : g_ch
          reg [A-1:0] xsel;
          integer i;
          always @(*) begin
            xsel = {A{1'b0}};
            for (i = 0; i < NR; i = i + 1) begin
              xsel = (xsel | ({A{hit[(i + NR - KYM) % NR]}} & rd[((i*C + gc)*KW + gx)*A +: A]));
            end
          end
          assign xv[((gy*KW + gx)*C + gc)*A +: A] = ((rowin[gy] & colin[gx]) ? xsel : PAD_C);
        end
      end
    end
  endgenerate
@% else %@  // Banked line buffer with synchronous reads (block RAM): every bank is read at the edge
  // with the *next* value of the window address, so its registered output always equals the
  // word at the current address (like the weight ROMs); an element written at the same edge
  // to the word being read is forwarded (bypass), so the lanes are behaviourally the
  // asynchronous reads of docs/hardware.md section 4.
  // Both addresses are kept in registers: the current one (ra_q) and the one after the next
  // fire (ra_a, one delta ahead); at a fire ra_a moves to ra_q and advances by the delta of
  // the fire after it, from the flags of the window position the fire leads to (*_a).
  localparam integer NF_PEN_I = (NF >= 2) ? (NF - 2) : 0;
  localparam [NFW-1:0] NF_PEN = NF_PEN_I[NFW-1:0];
  localparam integer OW_PEN_I = (OW >= 2) ? (OW - 2) : 0;
  localparam [OXW-1:0] OW_PEN = OW_PEN_I[OXW-1:0];
  localparam integer OH_PEN_I = (OH >= 2) ? (OH - 2) : 0;
  localparam [OYW-1:0] OH_PEN = OH_PEN_I[OYW-1:0];
  localparam [0:0] NF_ONE = ((NF == 1) ? 1'b1 : 1'b0);
  localparam [0:0] OW_ONE = ((OW == 1) ? 1'b1 : 1'b0);
  localparam [0:0] OH_ONE = ((OH == 1) ? 1'b1 : 1'b0);
  // the tests sf = SF - 2 and icf = CS - 2 of the fold the next fire leads to (and nf, ox, oy
  // against their last but one): with PREG = 1
  // flip-flops (docs/hardware.md section 12, "The ROM-fed padding test selected, not
  // computed"), loaded at a fire with the same tests of the counters' values after it, which
  // are comparisons of the current counters selected by last_sf and icl; else comparisons
  wire sfp;
  wire icp;
  wire nfp;
  wire oxp;
  wire oyp;
  // the flags of the position after the next fire
  wire nfl_a;
  wire oxl_a;
  wire oyl_a;
  generate
    if (PREG != 0) begin : g_pen
      localparam integer SF_P3_I = (SF >= 3) ? (SF - 3) : 0;
      localparam integer CS_P3_I = (CS >= 3) ? (CS - 3) : 0;
      localparam [SFW-1:0] SF_P3 = SF_P3_I[SFW-1:0];
      localparam [ICW-1:0] CS_P3 = CS_P3_I[ICW-1:0];
      // at reset, and after a pixel's last fold, both counters are 0 (SF_PEN and CS_PEN are
      // 0 for SF, CS of 1 or 2)
      localparam [0:0] SFP0 = ((SF <= 2) ? 1'b1 : 1'b0);
      localparam [0:0] ICP0 = ((CS <= 2) ? 1'b1 : 1'b0);
      reg sfp_q;
      reg icp_q;
      always @(posedge clk) begin
        if (rst) begin
          sfp_q <= SFP0;
          icp_q <= ICP0;
        end else if (fire) begin
          if (last_sf) begin
            sfp_q <= SFP0;
            icp_q <= ICP0;
          end else begin
            // sf + 1 = SF - 2; icf + 1 = CS - 2, or 0 = CS - 2 after the channel folds' last
            sfp_q <= ((SF >= 3) && (sf == SF_P3));
            icp_q <= (icl ? ICP0 : ((CS >= 3) && (icf == CS_P3)));
          end
        end
      end
      assign sfp = sfp_q;
      assign icp = icp_q;
      // the tests nf = NF - 2, ox = OW - 2 and oy = OH - 2 likewise, loaded when their
      // counter advances (nf + 1 = NF - 2, or 0 = NF - 2 after its last; ox and oy alike)
      localparam integer NF_P3_I = (NF >= 3) ? (NF - 3) : 0;
      localparam integer OW_P3_I = (OW >= 3) ? (OW - 3) : 0;
      localparam integer OH_P3_I = (OH >= 3) ? (OH - 3) : 0;
      localparam [NFW-1:0] NF_P3 = NF_P3_I[NFW-1:0];
      localparam [OXW-1:0] OW_P3 = OW_P3_I[OXW-1:0];
      localparam [OYW-1:0] OH_P3 = OH_P3_I[OYW-1:0];
      localparam [0:0] NFP0 = ((NF <= 2) ? 1'b1 : 1'b0);
      localparam [0:0] OXP0 = ((OW <= 2) ? 1'b1 : 1'b0);
      localparam [0:0] OYP0 = ((OH <= 2) ? 1'b1 : 1'b0);
      reg nfp_q;
      reg oxp_q;
      reg oyp_q;
      always @(posedge clk) begin
        if (rst) begin
          nfp_q <= NFP0;
          oxp_q <= OXP0;
          oyp_q <= OYP0;
        end else if (fire & last_sf) begin
          nfp_q <= (nfl ? NFP0 : ((NF >= 3) && (nf == NF_P3)));
          if (nfl) begin
            oxp_q <= (oxl ? OXP0 : ((OW >= 3) && (ox == OW_P3)));
            if (oxl) begin
              oyp_q <= (oyl ? OYP0 : ((OH >= 3) && (oy == OH_P3)));
            end
          end
        end
      end
      assign nfp = nfp_q;
      assign oxp = oxp_q;
      assign oyp = oyp_q;
      // and the tests nfl, oxl, oyl themselves: flip-flops loaded with their values after
      // each fire (nfl_a, oxl_a, oyl_a below), so everything that selects by them (the delta
      // below, the row difference registers, the counters) starts from flip-flops
      reg nfl_q;
      reg oxl_q;
      reg oyl_q;
      always @(posedge clk) begin
        if (rst) begin
          nfl_q <= NF_ONE;
          oxl_q <= OW_ONE;
          oyl_q <= OH_ONE;
        end else if (fire) begin
          nfl_q <= nfl_a;
          oxl_q <= oxl_a;
          oyl_q <= oyl_a;
        end
      end
      assign nfl = nfl_q;
      assign oxl = oxl_q;
      assign oyl = oyl_q;
    end else begin : g_pen_c
      assign sfp = (sf == SF_PEN);
      assign icp = (icf == CS_PEN);
      assign nfp = (nf == NF_PEN);
      assign oxp = (ox == OW_PEN);
      assign oyp = (oy == OH_PEN);
      assign nfl = (nf == NF_LAST);
      assign oxl = (ox == OW_LAST);
      assign oyl = (oy == OH_LAST);
    end
  endgenerate
  wire lsf_a = (last_sf ? SF_ONE : sfp);
  wire icl_a = ((last_sf | icl) ? CS_ONE : icp);
  wire kxl_a = (kx_a == KW_LAST);
  assign nfl_a = (last_sf ? (nfl ? NF_ONE : nfp) : nfl);
  assign oxl_a = ((last_sf & nfl) ? (oxl ? OW_ONE : oxp) : oxl);
  assign oyl_a = ((last_sf & nfl & oxl) ? (oyl ? OH_ONE : oyp) : oyl);
  // the slots after the next fire: computed from the current slots (s0_a, sr_a), or with
  // SLREG = 1 kept in registers of their own, one fire ahead (docs/hardware.md section 12, "Window
  // slots one fire ahead"), so that the wrap tests below compare flip-flops
  wire [NRW-1:0] s0_x;
  wire [NRW-1:0] sr_x;
  wire wr_r_a = (sr_x == NR_LAST_S);
  wire wr_l_a = ({1'b0, s0_x} >= TH_L);
  wire wr_0_a = ({1'b0, s0_x} >= TH_0);
  wire wr_w_a = ({1'b0, s0_x} >= TH_W);
  generate
    if (SLREG != 0) begin : g_slots_ahead
      // their reset values: the slots after the first fire from reset (whose position flags
      // are SF, CS, KW, NF, OW, OH == 1, as in D0_I)
      localparam integer S0_A0_I =
          ((SF == 1) && (NF == 1) && (OW == 1))
            ? ((OH != 1) ? (S0_INIT_I + SHM_I - ((WR00 != 0) ? NR : 0))
                         : (S0_INIT_I + WRS_I - ((WRW0 != 0) ? NR : 0)))
            : S0_INIT_I;
      localparam integer SR_A0_I =
          (SF != 1) ? (((CS == 1) && (KW == 1)) ? ((WRR0 != 0) ? 0 : (S0_INIT_I + 1)) : S0_INIT_I)
                    : S0_A0_I;
      localparam [NRW-1:0] S0_A0 = S0_A0_I[NRW-1:0];
      localparam [NRW-1:0] SR_A0 = SR_A0_I[NRW-1:0];
      reg  [NRW-1:0] s0_q;
      reg  [NRW-1:0] sr_q;
      // the slots after the fire after the next one: the same rule on the slots after the
      // next fire, the flags of the position it leads to and their wrap tests
      wire [NRW-1:0] s0_aa;
      wire [NRW-1:0] sr_aa;
      assign {s0_aa, sr_aa} = slots_after(s0_q, sr_q, lsf_a, (icl_a & kxl_a), (nfl_a & oxl_a),
                                          oyl_a, wr_r_a, wr_0_a, wr_w_a);
      always @(posedge clk) begin
        s0_q <= (rst ? S0_A0 : (fire ? s0_aa : s0_q));
        sr_q <= (rst ? SR_A0 : (fire ? sr_aa : sr_q));
      end
      assign s0_x = s0_q;
      assign sr_x = sr_q;
    end else begin : g_slots_now
      // the current slots, and those after the next fire computed from them
      reg  [NRW-1:0] s0;    // slot of the window's first row
      reg  [NRW-1:0] sr;    // slot of row ky
      wire wr_r = (sr == NR_LAST_S);
      wire wr_0 = ({1'b0, s0} >= TH_0);
      wire wr_w = ({1'b0, s0} >= TH_W);
      wire [NRW-1:0] s0_a;
      wire [NRW-1:0] sr_a;
      assign {s0_a, sr_a} = slots_after(s0, sr, last_sf, (icl & (kx == KW_LAST)), (nfl & oxl),
                                        oyl, wr_r, wr_0, wr_w);
      always @(posedge clk) begin
        s0 <= (rst ? S0_INIT : (fire ? s0_a : s0));
        sr <= (rst ? S0_INIT : (fire ? sr_a : sr));
      end
      assign s0_x = s0_a;
      assign sr_x = sr_a;
    end
  endgenerate
  reg  [LBW-1:0] dl_a;     // the delta of the fire after the next one
  always @(*) begin
    if (!lsf_a) begin
      if (!icl_a) begin
        dl_a = D_CO;
      end else if (!kxl_a) begin
        dl_a = D_KX;
      end else begin
        dl_a = (wr_r_a ? D_KYW : D_KY);
      end
    end else if (!nfl_a) begin
      dl_a = (wr_l_a ? D_NFW : D_NF);
    end else if (!oxl_a) begin
      dl_a = (wr_l_a ? D_OXW : D_OX);
    end else if (!oyl_a) begin
      // both corrections at once cancel (-LBU + LBU)
      dl_a = ((wr_l_a == wr_0_a) ? D_OY : (wr_l_a ? D_OY10 : D_OY01));
    end else begin
      dl_a = ((wr_l_a == wr_w_a) ? D_IM : (wr_l_a ? D_IM10 : D_IM01));
    end
  end
  localparam integer RA_I_I = RB0_INIT_I - PLC_I;
  localparam [LBW-1:0] RA_I = RA_I_I[LBW-1:0];
  localparam integer RA_A0_I = RA_I_I + D0_I;
  localparam [LBW-1:0] RA_A0 = RA_A0_I[LBW-1:0];
  reg  [LBW-1:0] ra_q;   // the current window address
  reg  [LBW-1:0] ra_a;   // the window address after the next fire
  wire [LBW-1:0] ra_n = (rst ? RA_I : (fire ? ra_a : ra_q));
  /* verilator lint_off UNUSED */
  // Justification: the forwarding of the banks read at the next address (RREG = 0) only.
  wire           wr_hit_n = (rst ? (wp == RA_I) : (fire ? (wp == ra_a) : (wp == ra_q)));
@% if wide %@  reg  [KI*A-1:0] wd_q;   // the beat written at the last edge
@% else %@  reg  [A-1:0]   wd_q;   // the element written at the last edge
@% endif %@  /* verilator lint_on UNUSED */
  always @(posedge clk) begin
    wd_q <= in_data;
    ra_q <= ra_n;
    ra_a <= (rst ? RA_A0 : (fire ? (ra_a + dl_a) : ra_a));
  end
  wire [NL*A-1:0] xv;
  genvar s, p;
  generate
    // every bank is written at wp when an input element (a beat's element) is its own.
    // RREG = 0: it is read at ra_n, the address of the cycle after the edge (ra_a at a
    // fire), and an element written at the same edge to the address read is forwarded
    // (fwd, the element or beat written at the last edge in wd_q). RREG = 1
    // (docs/hardware.md section 4, "The datapath register at the read"): it is read at the
    // current address ra_q (a register) when the stages advance, so a fire's own edge reads
    // its fold's words; inw keeps the fold's padding test beside them, and the lanes take
    // both in the next cycle. The rows a fire reads were complete an edge before it, and
    // the rule lim keeps every write at that edge off them, so nothing is forwarded.
    for (s = 0; s < NL; s = s + 1) begin : g_bank
      localparam integer BANK_I = s;
@% if wide %@      localparam integer BANK_I2 = BANK_I / KI;   // the bank's group
      localparam [NLW-1:0] BANK = BANK_I2[NLW-1:0];
      wire [A-1:0] wd = in_data[(BANK_I % KI)*A +: A];
@% else %@      localparam [NLW-1:0] BANK = BANK_I[NLW-1:0];
      wire [A-1:0] wd = in_data;
@% endif %@      wire we = ((~rst) & in_fire & (wl == BANK));
      if ((RREG != 0) && (LBSP != 0)) begin : g_sread
        // LBSP = 1 (docs/hardware.md section 4, "The line-buffer read in two stages"): the
        // bank is NG RAMs, group g holding its words [g * LBG, (g + 1) * LBG) (the last one
        // the rest; LBG a power of two, NG >= 2). Each group is read at the current address's
        // low bits into a register of its own when the stages advance, beside the address's
        // high bits (the group) and the padding test; the next stage registers the group's
        // word and the test, and the lanes take them in the cycle after
        localparam integer NG  = (LBD + LBG - 1) / LBG;
        localparam integer GAW = $clog2(LBG);
        localparam integer HW  = LBW - GAW;   // the group's bits of an address
        // the groups' words at the read address (0 beyond NG) and their select, a tree of
        // 2:1 selects: node n (1 the root, 2n and 2n + 1 its children, group g the leaf
        // 2**HW + g; at gt[(n - 1)*A +: A]) selects by bit HW - 1 - floor(log2 n) of gs
        wire [(2**(HW+1)-1)*A-1:0] gt /*verilator split_var*/;
        reg [HW-1:0] gs;
        genvar gg;
        for (gg = 0; gg < 2**HW; gg = gg + 1) begin : g_grp
          if (gg < NG) begin : g_ram
            localparam integer GRP_I = gg;
            localparam [HW-1:0] GRP = GRP_I[HW-1:0];
            localparam integer GD  = ((LBD - gg * LBG) < LBG) ? (LBD - gg * LBG) : LBG;
            localparam integer GDD = (GD < 2) ? 2 : GD;
            localparam integer GDW = $clog2(GDD);   // the group's word address bits
            reg [A-1:0] mem [0:GDD-1];
            reg [A-1:0] grd;
            always @(posedge clk) begin
              if (we & (wp[LBW-1:GAW] == GRP)) begin
                mem[wp[GDW-1:0]] <= wd;
              end
            end
            always @(posedge clk) begin
              if (adv) begin
                grd <= mem[ra_q[GDW-1:0]];
              end
            end
            assign gt[(2**HW + gg - 1)*A +: A] = grd;
          end else begin : g_none
            assign gt[(2**HW + gg - 1)*A +: A] = {A{1'b0}};
          end
        end
        reg          inw;
        reg [A-1:0]  rd;
        reg          inw2;
        genvar gn;
        for (gn = 1; gn < 2**HW; gn = gn + 1) begin : g_node
          localparam integer LV = HW - $clog2(gn + 1);
          assign gt[(gn - 1)*A +: A] = (gs[LV] ? gt[(2*gn)*A +: A] : gt[(2*gn - 1)*A +: A]);
        end
        always @(posedge clk) begin
          if (adv) begin
            gs <= ra_q[LBW-1:GAW];
            inw <= inwin;
            rd <= gt[A-1:0];
            inw2 <= inw;
          end
        end
        assign xv[s*A +: A] = (inw2 ? rd : PAD_C);
      end else begin : g_one
        reg [A-1:0] mem [0:LBD-1];
        reg [A-1:0] rd;
        always @(posedge clk) begin
          if (we) begin
            mem[wp] <= wd;
          end
        end
        if (RREG != 0) begin : g_rread
          reg         inw;
          always @(posedge clk) begin
            if (adv) begin
              rd <= mem[ra_q];
              inw <= inwin;
            end
          end
          assign xv[s*A +: A] = (inw ? rd : PAD_C);
        end else begin : g_nread
@% if wide %@          wire [A-1:0] wf = wd_q[(BANK_I % KI)*A +: A];
@% else %@          wire [A-1:0] wf = wd_q;
@% endif %@          reg         fwd;
          always @(posedge clk) begin
            rd <= mem[ra_n];
            fwd <= (we & wr_hit_n);
          end
          assign xv[s*A +: A] = (inwin ? (fwd ? wf : rd) : PAD_C);
        end
      end
    end
  endgenerate
@% endif %@
@% if constant %@  // ---- constant-weight products (wiring) and per-PE adder trees ----
  wire [PE*ACC_W-1:0] nxt /*verilator split_var*/;
@% if pipe > 0 %@  // stage s of a value: computed after (s x @{ levels_per_stage }@) adder levels at most; a value
  // read k stages later passes k registers (name_d<k>)
@% for r in pregs %@  reg  [@{ r.width - 1 }@:0] @{ r.name }@;
@% endfor %@@% endif %@@% if unused_lanes %@  /* verilator lint_off UNUSED */
  // Justification: window elements whose weight is zero in every PE feed no term.
  wire [WIN*A-1:0] xv_all = xv;
  /* verilator lint_on UNUSED */
@% endif %@@% if !shared.is_empty() %@  // sub-sums that recur in several PEs, computed once (inq_hdl::ops::sharing)
@% endif %@@% for t in shared %@  wire [@{ t.width - 1 }@:0] @{ t.name }@ = @{ t.expr }@; // @{ t.comment }@
@% endfor %@@% for pe in pes %@  // PE @{ pe.index }@: @{ pe.nonzero }@ non-zero weights in @{ pe.terms.len() }@ terms, @{ pe.zeros }@ zero weights (no hardware)
@% for t in pe.terms %@  wire [@{ t.width - 1 }@:0] @{ t.name }@ = @{ t.expr }@; // @{ t.comment }@
@% endfor %@@% for n in pe.nodes %@  wire [@{ n.width - 1 }@:0] @{ n.name }@ = @{ n.expr }@;
@% endfor %@@% if !pe.carried.is_empty() %@  wire [ACC_W-1:0] @{ pe.carried }@ = @{ pe.result }@;
  assign nxt[@{ pe.hi }@:@{ pe.lo }@] = @{ pe.carried }@_d@{ pe.carry }@;
@% else %@  assign nxt[@{ pe.hi }@:@{ pe.lo }@] = @{ pe.result }@;
@% endif %@@% endfor %@@% if pipe > 0 %@  always @(posedge clk) begin
    if (rst) begin
      pv <= @{ pipe }@'d0;
    end else if (adv) begin
      pv <= @% if pipe > 1 %@{pv[@{ pipe - 2 }@:0], fire}@% else %@fire@% endif %@;
    end
  end
  always @(posedge clk) begin
    if (adv) begin
@% for r in pregs %@      @{ r.name }@ <= @{ r.src }@;
@% endfor %@    end
  end
@% endif %@
@% else %@  // ---- PE x SIMD shift-add lanes, adder chains, next accumulator values ----
  wire [PE*ACC_W-1:0] nxt /*verilator split_var*/;
  // The levels of span h0 <= h < h1 of a balanced tree over SIMD lanes' values v (lane s in
  // word s) and carries c: at the level of span h, lane j (a multiple of 2h) takes lane
  // j + h's partial sum with lane j + h's carry, {a, 1} + {b, c} = {a + b + c, ~c}, so every
  // lane but 0 is the right operand of exactly one adder and lane 0's carry is left for the
  // accumulator's adder. Lane 0's word holds the sum after the last level.
  /* verilator lint_off UNUSED */
  // Justification: bit 0 of each {a, 1} + {b, c} sum only carries c into bit 1.
  function [SIMD*ACC_W-1:0] tree_levels;
    input [SIMD*ACC_W-1:0] v;
    input [SIMD-1:0]       c;
    input integer          h0;
    input integer          h1;
    integer                h;
    integer                j;
    reg [ACC_W:0]          t;
    begin
      tree_levels = v;
      for (h = h0; h < h1; h = h * 2) begin
        for (j = 0; j + h < SIMD; j = j + 2 * h) begin
          t = ({tree_levels[j*ACC_W +: ACC_W], 1'b1} + {tree_levels[(j+h)*ACC_W +: ACC_W], c[j+h]});
          tree_levels[j*ACC_W +: ACC_W] = t[ACC_W:1];
        end
      end
    end
  endfunction
  /* verilator lint_on UNUSED */
  // the current fold's weight words: the ROMs' output, or with WREG = 1 the register that
  // holds it at the read stage (w_rd, the ROM read section below); with the line-buffer
  // read in two stages (LBSP) a register of their own in its second stage
  wire [PE*SIMD*CB-1:0] w_cur;
  wire [PE*SIMD*CB-1:0] w_rd;
  generate
    if ((RREG != 0) && (LBSP != 0)) begin : g_wsplit
      reg [PE*SIMD*CB-1:0] wq2;
      always @(posedge clk) begin
        if (adv) begin
          wq2 <= w_rd;
        end
      end
      assign w_cur = wq2;
    end else begin : g_wone
      assign w_cur = w_rd;
    end
  endgenerate
  generate
    for (p = 0; p < PE; p = p + 1) begin : g_pe
      // lane s adds pv[s] plus the carry cv[s]: a negative power-of-two weight gives
      // -(x << k) = ~(x << k) + 1, the inversion in the lane and the +1 as the carry into its
      // adder, so no lane has a negation adder of its own
      wire [SIMD*ACC_W-1:0] pv;
      wire [SIMD-1:0]       cv;
      for (s = 0; s < SIMD; s = s + 1) begin : g_mul
        wire [CB-1:0] code = w_cur[(p*SIMD + s)*CB +: CB];
        // lane s of PE p (depthwise: SIMD = 1 and PE p has its own window lane p)
        wire [A-1:0]  x    = xv[((DW != 0) ? p : s)*A +: A];
        wire [PW-1:0] pr;
        if (MUL != 0) begin : g_int
          // PW = A + CB: the signed product of the (A+1)-bit extended activation and the
          // CB-bit weight always fits.
          wire signed [A:0]    xs = {((IN_SIGNED != 0) ? x[A-1] : 1'b0), x};
          wire signed [CB-1:0] ws = code;
          if (MREG != 0) begin : g_halves
            // MREG = 1 (docs/hardware.md section 4, "The multiplier in two halves"): the
            // weight's low HB bits (unsigned) and its high CB - HB bits (signed) each make a
            // product, registered when the stages advance, and the next stage adds them: the
            // same product a cycle later, two short multipliers instead of one deep one
            // (weight codes have 2 to 8 bits, so both halves have one at least)
            localparam integer HB = CB / 2;
            // the products' widths: |x| * (2^HB - 1) < 2^(A+HB) fits A + HB + 1 signed bits,
            // and the high half's product PW - HB (its sum with the low one is the product)
            localparam integer LW = A + HB + 1;
            wire signed [HB:0]      wlo = {1'b0, ws[HB-1:0]};
            wire signed [CB-HB-1:0] whi = ws[CB-1:HB];
            reg  signed [LW-1:0]    plo;
            reg  signed [PW-HB-1:0] phi;
            always @(posedge clk) begin
              if (adv) begin
                plo <= (xs * wlo);
                phi <= (xs * whi);
              end
            end
            wire [PW-1:0] plo_e;
            if (PW > LW) begin : g_ext
              assign plo_e = {{(PW-LW){plo[LW-1]}}, plo};
            end else begin : g_fit
              assign plo_e = plo;
            end
            assign pr = ({phi, {HB{1'b0}}} + plo_e);
          end else begin : g_comb
            wire signed [PW-1:0] ps = (xs * ws);
            assign pr = ps;
          end
          assign cv[s] = 1'b0;
        end else begin : g_pow2
          wire [PW-1:0] xe = {{(PW-A){((IN_SIGNED != 0) ? x[A-1] : 1'b0)}}, x};
          wire [PW-1:0] sh;
          if (CB > 2) begin : g_sh
            assign sh = (xe << code[CB-3:0]);
          end else begin : g_nosh
            assign sh = xe;
          end
          // code[CB-1]: non-zero; code[CB-2]: negative
          assign pr = ({PW{code[CB-1]}} & (sh ^ {PW{code[CB-2]}}));
          assign cv[s] = (code[CB-1] & code[CB-2]);
        end
        assign pv[s*ACC_W +: ACC_W] = {{(ACC_W-PW){pr[PW-1]}}, pr};
      end
      // the PE's accumulator: one register per PE, not one PE*ACC_W-bit vector (which a
      // cycle-based simulator evaluates word by word every cycle). It is cleared at reset and
      // by the fire of a pixel's last synapse fold (whose sum goes to obuf), so it is 0 at
      // every first fold and the adder reads it directly: no select in front of the adder,
      // whose LUTs can then take the lane's last shift stage
      reg [ACC_W-1:0] acc;
      wire [ACC_W-1:0] base = acc;
      if ((MUL != 0) && (MREG == 0)) begin : g_sum_mul
        // plain adds, so that synthesis can merge a product and its add into one DSP block
        reg [ACC_W-1:0] sum;
        integer i;
        always @(*) begin
          sum = {ACC_W{1'b0}};
          for (i = 0; i < SIMD; i = i + 1) begin
            sum = (sum + pv[i*ACC_W +: ACC_W]);
          end
        end
        // DREG = 1: the sum passes a register (taken when the stage advances)
        wire [ACC_W-1:0] sum_d;
        if (DREG != 0) begin : g_dreg
          reg [ACC_W-1:0] sum_q;
          always @(posedge clk) begin
            if (adv) begin
              sum_q <= sum;
            end
          end
          assign sum_d = sum_q;
        end else begin : g_comb
          assign sum_d = sum;
        end
        assign nxt[p*ACC_W +: ACC_W] = (base + sum_d);
        /* verilator lint_off UNUSED */
        // Justification: multiplier lanes have no carries (cv is 0).
        wire [SIMD-1:0] unused_cv = cv;
        /* verilator lint_on UNUSED */
      end else begin : g_sum_pow2
        // the lanes' sum: {a, 1} + {b, c} = {a + b + c, ~c}, an adder with a carry in; lane
        // 0's carry enters the accumulator's adder. The balanced tree of tree_levels above
        // (ceil(log2 SIMD) adder levels; of two lanes one adder). Multiplier lanes with
        // MREG = 1 (planned without DSP blocks) take this tree too, their carries 0
        /* verilator lint_off UNUSED */
        // Justification: bit 0 of each {a, 1} + {b, c} sum only carries c into bit 1; a
        // tree's result is its lane 0's word; with DSPL > 0 only every 2^DSPL-th partial
        // sum of the tree's first levels is registered.
        wire [ACC_W-1:0] sum_d;
        wire             c0_d;
        if ((DREG != 0) && (DSPL != 0)) begin : g_split
          // DSPL > 0 (docs/hardware.md section 4, "Datapath registers", "The register inside
          // the lanes' tree"): the datapath register sits after the tree's first DSPL levels.
          // It holds the partial sums and carries of the lanes that are multiples of 2^DSPL,
          // and the remaining levels run on them after it, in front of the accumulator's
          // adder: the same sum, the same cycle
          localparam integer SPAN = (1 << DSPL);
          localparam integer NQ = (SIMD + SPAN - 1) / SPAN;
          wire [SIMD*ACC_W-1:0] ta = tree_levels(pv, cv, 1, SPAN);
          reg  [NQ*ACC_W-1:0]   tq;
          reg  [NQ-1:0]         cq;
          // the registered words back at their lanes (the others are 0 and never read)
          reg  [SIMD*ACC_W-1:0] tv;
          reg  [SIMD-1:0]       tc;
          integer q;
          always @(posedge clk) begin
            if (adv) begin
              for (q = 0; q < NQ; q = q + 1) begin
                tq[q*ACC_W +: ACC_W] <= ta[q*SPAN*ACC_W +: ACC_W];
                cq[q] <= cv[q*SPAN];
              end
            end
          end
          integer qv;
          always @(*) begin
            tv = {(SIMD*ACC_W){1'b0}};
            tc = {SIMD{1'b0}};
            for (qv = 0; qv < NQ; qv = qv + 1) begin
              tv[qv*SPAN*ACC_W +: ACC_W] = tq[qv*ACC_W +: ACC_W];
              tc[qv*SPAN] = cq[qv];
            end
          end
          wire [SIMD*ACC_W-1:0] tb = tree_levels(tv, tc, SPAN, SIMD);
          assign sum_d = tb[0 +: ACC_W];
          assign c0_d = cq[0];
        end else begin : g_whole
          // (of one or two lanes the tree is the lane itself or one adder)
          wire [SIMD*ACC_W-1:0] tv = tree_levels(pv, cv, 1, SIMD);
          wire [ACC_W-1:0] sum = tv[0 +: ACC_W];
          // DREG = 1: the sum and lane 0's carry pass a register (taken when the stage
          // advances) before the accumulator's adder
          if (DREG != 0) begin : g_dreg
            reg [ACC_W-1:0] sum_q;
            reg             c0_q;
            always @(posedge clk) begin
              if (adv) begin
                sum_q <= sum;
                c0_q <= cv[0];
              end
            end
            assign sum_d = sum_q;
            assign c0_d = c0_q;
          end else begin : g_comb
            assign sum_d = sum;
            assign c0_d = cv[0];
          end
        end
        wire [ACC_W:0] nt = ({base, 1'b1} + {sum_d, c0_d});
        /* verilator lint_on UNUSED */
        assign nxt[p*ACC_W +: ACC_W] = nt[ACC_W:1];
      end
      always @(posedge clk) begin
        if (rst | (dfire & dlast)) begin
          acc <= {ACC_W{1'b0}};
        end else if (dfire) begin
          acc <= nxt[p*ACC_W +: ACC_W];
        end
      end
    end
  endgenerate

@% endif %@@% if !constant %@  // ---- the index of the word emitted after oi (with a stage: DREG or RREG) ----
  // oi_n, kept in a register beside oi (word 1 after a load, the next one after each
  // emission), selects the word loaded into hq (below), so the select starts from
  // flip-flops; with HSEL = 1 the one-hot copy there selects instead, and oi_n is not kept
  /* verilator lint_off UNUSED */
  // Justification: read only by the binary select of the word emitted next (DREG or RREG,
  // HSEL = 0).
  wire [OIW-1:0] oi_n;
  /* verilator lint_on UNUSED */
  generate
    if (((DREG != 0) || (RREG != 0)) && (HSEL == 0)) begin : g_oin
      localparam integer OIN0_I = (OI_LAST_I == 0) ? 0 : 1;
      localparam [OIW-1:0] OIN0 = OIN0_I[OIW-1:0];
      reg  [OIW-1:0] oin;
      always @(posedge clk) begin
        if (rst | load) begin
          oin <= OIN0;
        end else if (emit) begin
          oin <= ((oin == OI_LAST) ? {OIW{1'b0}} : (oin + 1'b1));
        end
      end
      assign oi_n = oin;
    end else begin : g_nooin
      assign oi_n = {OIW{1'b0}};
    end
  endgenerate

@% endif %@@% if wide %@  // ---- output buffer: PB = PE/KO words of KO results (result b*KO + i in bits
  // [i*ACC_W +: ACC_W] of word b), loaded at a pixel's last synapse fold, read in turn by the
  // emission (word oi = PB - pending, one output beat); one register per word, loaded in
  // parallel and never shifted ----
  reg [KO*ACC_W-1:0] obw [0:PB-1];
  // oi always equals PB - pending; it is kept as a register of its own so that the read
  // multiplexer's select comes straight from flip-flops instead of through a subtractor
  reg [OIW-1:0]   oi;
  genvar ob;
  generate
    for (ob = 0; ob < PB; ob = ob + 1) begin : g_obuf
      always @(posedge clk) begin
        if ((~rst) & load) begin
          obw[ob] <= nxt[ob*KO*ACC_W +: KO*ACC_W];
        end
      end
    end
  endgenerate

  // ---- requantization of the beat being emitted: one requantizer per lane ----
  // lane i's bb and dd hold the table words of channel chn + i of the beat emitted next: read
  // at reset (beat 0) and at each emission (at chn, the first channel of the beat after the
  // one emitted); so the emission adds a register to the lane's obuf word, shifts by the
  // constant r_min (wiring: RMIN_L left or RMIN_R right) and by dd (a barrel shifter of SHW
  // stages) and saturates (docs/hardware.md sections 4, 6 and 12)
  localparam integer RXW = RW + RMIN_L + 1;
  wire [KO*OUT_W-1:0] q;
@% if constant %@  wire [KO*ACC_W-1:0] heads = obw[oi];
@% else %@  // DREG = 1: the word emitted next is kept in a register (hq), loaded with word 0 at a
  // load and with word oi + 1 at each other emission, so it equals obw[oi] whenever
  // pending != 0 and the emission starts from flip-flops (docs/hardware.md section 4,
  // "Datapath registers")
  wire [KO*ACC_W-1:0] heads;
@% call head_register("KO*ACC_W", "PB", "heads") %@@% endif %@  genvar lo;
  generate
    for (lo = 0; lo < KO; lo = lo + 1) begin : g_lane
      localparam integer LANE_I = lo;
      localparam [CHW-1:0] LANE = LANE_I[CHW-1:0];
      reg  [RW-1:0]    bb;
      reg  [SHW-1:0]   dd;
      wire [CHW-1:0]   ta   = ((rst ? {CHW{1'b0}} : chn) + LANE);
      always @(posedge clk) begin
        if (rst | emit) begin
          bb <= bias_t[ta];
          dd <= shift_t[ta];
        end
      end
      wire [ACC_W-1:0] head = heads[lo*ACC_W +: ACC_W];
      wire [RW-1:0]    y    = ({{(RW-ACC_W){head[ACC_W-1]}}, head} + bb);
      wire [RXW-1:0]   ye   = {{(RXW-RW){y[RW-1]}}, y};
      wire [RXW-1:0]   yl   = (ye << RMIN_L);
      wire [RXW-1:0]   yp   = ($signed(yl) >>> RMIN_R);
      /* verilator lint_off UNUSED */
      // Justification: the value after the shifts fits RW bits (RW holds every left shift's
      // result); the bits above are sign copies.
      wire [RXW-1:0]   ys   = ($signed(yp) >>> dd);
      /* verilator lint_on UNUSED */
      wire [RW-1:0]    t    = ys[RW-1:0];
      if (LOGITS != 0) begin : g_logits
        /* verilator lint_off UNUSED */
        // Justification: logits keep the low OUT_W bits of the RW-bit value; the top bits are
        // sign copies (RW >= OUT_W + 1 by construction).
        wire [RW-1:0] t_all = t;
        /* verilator lint_on UNUSED */
        assign q[lo*OUT_W +: OUT_W] = t_all[OUT_W-1:0];
      end else if (OUT_SIGNED != 0) begin : g_signed
        wire [RW-OUT_W:0] hs = t[RW-1:OUT_W-1];
        wire ok = ((&hs) | (~(|hs)));
        assign q[lo*OUT_W +: OUT_W] = (ok ? t[OUT_W-1:0] : (t[RW-1] ? {1'b1, {(OUT_W-1){1'b0}}} : {1'b0, {(OUT_W-1){1'b1}}}));
      end else begin : g_unsigned
        wire neg = t[RW-1];
        wire [RW-OUT_W-1:0] hi = t[RW-1:OUT_W];
        wire big = (|hi);
        // An unsigned output implies ReLU (validated by inq-model): negative values clamp to 0.
        assign q[lo*OUT_W +: OUT_W] = (neg ? {OUT_W{1'b0}} : (big ? {OUT_W{1'b1}} : t[OUT_W-1:0]));
      end
    end
  endgenerate

@% else %@  // ---- output buffer: PE words loaded at a pixel's last synapse fold, read in turn by the
  // emission (word oi = PE - pending); one register per word, loaded in parallel and never
  // shifted, so a word's flip-flops need no multiplexer in front of them ----
  reg [ACC_W-1:0] obw [0:PE-1];
  // oi always equals PE - pending; it is kept as a register of its own so that the read
  // multiplexer's select comes straight from flip-flops instead of through a subtractor
  reg [OIW-1:0]   oi;
  genvar ob;
  generate
    for (ob = 0; ob < PE; ob = ob + 1) begin : g_obuf
      always @(posedge clk) begin
        if ((~rst) & load) begin
          obw[ob] <= nxt[ob*ACC_W +: ACC_W];
        end
      end
    end
  endgenerate

  // ---- requantization of the element being emitted ----
  // bb and dd hold the table words of the channel emitted next: read at reset (channel 0)
  // and at each emission (at chn, the channel after the one emitted); so the emission adds a
  // register to the obuf word, shifts by the constant r_min (wiring: RMIN_L left or RMIN_R
  // right) and by dd (a barrel shifter of SHW stages) and saturates (docs/hardware.md
  // sections 4, 6 and 12)
  reg  [RW-1:0]    bb;
  reg  [SHW-1:0]   dd;
  wire [CHW-1:0]   ta   = (rst ? {CHW{1'b0}} : chn);
  always @(posedge clk) begin
    if (rst | emit) begin
      bb <= bias_t[ta];
      dd <= shift_t[ta];
    end
  end
  localparam integer RXW = RW + RMIN_L + 1;
@% if constant %@  wire [ACC_W-1:0] head = obw[oi];
@% else %@  // DREG = 1: the word emitted next is kept in a register (hq), loaded with word 0 at a
  // load and with word oi + 1 at each other emission, so it equals obw[oi] whenever
  // pending != 0 and the emission starts from flip-flops (docs/hardware.md section 4,
  // "Datapath registers")
  wire [ACC_W-1:0] head;
@% call head_register("ACC_W", "PE", "head") %@@% endif %@  wire [RW-1:0]    y    = ({{(RW-ACC_W){head[ACC_W-1]}}, head} + bb);
  wire [RXW-1:0]   ye   = {{(RXW-RW){y[RW-1]}}, y};
  wire [RXW-1:0]   yl   = (ye << RMIN_L);
  wire [RXW-1:0]   yp   = ($signed(yl) >>> RMIN_R);
  /* verilator lint_off UNUSED */
  // Justification: the value after the shifts fits RW bits (RW holds every left shift's
  // result); the bits above are sign copies.
  wire [RXW-1:0]   ys   = ($signed(yp) >>> dd);
  /* verilator lint_on UNUSED */
  wire [RW-1:0]    t    = ys[RW-1:0];
  wire [OUT_W-1:0] q;
  generate
    if (LOGITS != 0) begin : g_logits
      /* verilator lint_off UNUSED */
      // Justification: logits keep the low OUT_W bits of the RW-bit value; the top bits are
      // sign copies (RW >= OUT_W + 1 by construction).
      wire [RW-1:0] t_all = t;
      /* verilator lint_on UNUSED */
      assign q = t_all[OUT_W-1:0];
    end else if (OUT_SIGNED != 0) begin : g_signed
      wire [RW-OUT_W:0] hs = t[RW-1:OUT_W-1];
      wire ok = ((&hs) | (~(|hs)));
      assign q = (ok ? t[OUT_W-1:0] : (t[RW-1] ? {1'b1, {(OUT_W-1){1'b0}}} : {1'b0, {(OUT_W-1){1'b1}}}));
    end else begin : g_unsigned
      wire neg = t[RW-1];
      wire [RW-OUT_W-1:0] hi = t[RW-1:OUT_W];
      wire big = (|hi);
      // An unsigned output implies ReLU (validated by inq-model): negative values clamp to 0.
      assign q = (neg ? {OUT_W{1'b0}} : (big ? {OUT_W{1'b1}} : t[OUT_W-1:0]));
    end
  endgenerate

@% endif %@@% if !constant %@  // ---- weight ROM read ----
  // The ROMs are read at reset (word 0) and at each fire, at the word of the fold that fire
  // leads to (nf * SF + sf, kept one fold ahead in waddr_a), and hold their output otherwise;
  // so w_data is always the current fold's word and the address comes from registers only
  // (docs/hardware.md sections 4 and 12).
  localparam integer WA0_I = ((SF == 1) && (NF == 1)) ? 0 : 1;
  localparam [WAW-1:0] WA0 = WA0_I[WAW-1:0];
  wire           end_pix_a = (lsf_a & nfl_a);
  // RREG = 1: the ROMs are read at a fire's own edge instead, at the current fold's word
  // (waddr_q, the word the last fire led to), when the stage advances. RREG = 1 with
  // WREG = 1: the ROMs are read one fold ahead as without RREG, and their output (the
  // current fold's word) passes a register of its own when the stage advances, so the
  // ROM's output select (block RAM cascaded in depth) and its clock-to-output end there
  // (docs/hardware.md section 4, "The datapath register at the read")
  generate
    if ((RREG != 0) && (WREG == 0)) begin : g_wread
      reg [WAW-1:0] waddr_q;
      always @(posedge clk) begin
        if (rst) begin
          waddr_q <= {WAW{1'b0}};
        end else if (fire) begin
          waddr_q <= waddr_a;
        end
      end
      assign w_addr = waddr_q;
      assign w_en = adv;
      assign w_rd = w_data;
    end else begin : g_wnread
      assign w_addr = (rst ? {WAW{1'b0}} : waddr_a);
      assign w_en = (rst | fire);
      if (RREG != 0) begin : g_wreg
        reg [PE*SIMD*CB-1:0] wq;
        always @(posedge clk) begin
          if (adv) begin
            wq <= w_data;
          end
        end
        assign w_rd = wq;
      end else begin : g_wdirect
        assign w_rd = w_data;
      end
    end
  endgenerate

@% endif %@  // ---- register updates ----
  always @(posedge clk) begin
    if (rst) begin
      iy <= {IYW{1'b0}};
      ie <= {IEW{1'b0}};
@% if constant %@      wsl <= {SLW{1'b0}};
      wx <= {XW{1'b0}};
      wc <= {CCW{1'b0}};
@% else %@      wp <= {LBW{1'b0}};
@% endif %@      cdone <= 1'b0;
      ahead <= 1'b0;
      oy <= {OYW{1'b0}};
      ox <= {OXW{1'b0}};
      nf <= {NFW{1'b0}};
      sf <= {SFW{1'b0}};
      ky <= {KYW{1'b0}};
      kx <= {KXW{1'b0}};
      icf <= {ICW{1'b0}};
      lop <= {CW{1'b0}};
      oxs <= {CW{1'b0}};
@% if !constant %@      last_sf <= SF_ONE;
      icl <= CS_ONE;
      wl <= {NLW{1'b0}};
      waddr_a <= WA0;
@% endif %@      pending <= {PNW{1'b0}};
      oi <= {OIW{1'b0}};
      chn <= CH1;
      out_valid <= 1'b0;
@% if wide %@      out_data <= {(KO*OUT_W){1'b0}};
@% else %@      out_data <= {OUT_W{1'b0}};
@% endif %@    end else begin
      // input side
      if (in_fire) begin
@% if constant %@        // (the element itself is written by its bank, below)
        if (wc == C_LAST) begin
          wc <= {CCW{1'b0}};
          if (wx == W_LAST) begin
            wx <= {XW{1'b0}};
            wsl <= ((wsl == NR_LAST) ? {SLW{1'b0}} : (wsl + 1'b1));
          end else begin
            wx <= (wx + 1'b1);
          end
        end else begin
          wc <= (wc + 1'b1);
        end
@% else %@        if (wl == NL_LAST) begin
          wl <= {NLW{1'b0}};
          wp <= ((wp == LB_LAST) ? {LBW{1'b0}} : (wp + 1'b1));
        end else begin
          wl <= (wl + 1'b1);
        end
@% endif %@        if (ie == ROW_LAST) begin
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
      // compute side
@% if !constant %@      if (fire) begin
        waddr_a <= (end_pix_a ? {WAW{1'b0}} : (waddr_a + 1'b1));
      end
@% endif %@      if (fire) begin
        if (!last_sf) begin
          sf <= (sf + 1'b1);
@% if !constant %@          last_sf <= (sf == SF_PEN);
          icl <= (icl ? CS_ONE : (icf == CS_PEN));
@% endif %@          if (icl) begin
            icf <= {ICW{1'b0}};
            if (kx == KW_LAST) begin
              kx <= {KXW{1'b0}};
              ky <= (ky + 1'b1);
            end else begin
              kx <= (kx + 1'b1);
            end
          end else begin
            icf <= (icf + 1'b1);
          end
        end else begin
          sf <= {SFW{1'b0}};
          icf <= {ICW{1'b0}};
@% if !constant %@          last_sf <= SF_ONE;
          icl <= CS_ONE;
@% endif %@          kx <= {KXW{1'b0}};
          ky <= {KYW{1'b0}};
          if (!nfl) begin
            nf <= (nf + 1'b1);
          end else begin
            nf <= {NFW{1'b0}};
            if (!oxl) begin
              ox <= (ox + 1'b1);
              oxs <= (oxs + SW_C);
            end else begin
              ox <= {OXW{1'b0}};
              oxs <= {CW{1'b0}};
              if (!oyl) begin
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
      // emission side
      if (emit_go) begin
        out_valid <= (~pend0);
      end
      if (emit) begin
        out_data <= q;
@% if wide %@        chn <= ((chn == OC_LAST) ? {CHW{1'b0}} : (chn + KO_C));
@% else %@        chn <= ((chn == OC_LAST) ? {CHW{1'b0}} : (chn + 1'b1));
@% endif %@      end
      if (load) begin
        pending <= PE_C;
        oi <= {OIW{1'b0}};
      end else if (emit) begin
        pending <= (pending - 1'b1);
        oi <= ((oi == OI_LAST) ? {OIW{1'b0}} : (oi + 1'b1));
      end
    end
  end
endmodule
@#- The register of the word emitted next of a ROM-fed engine's emission (hq, DREG or RREG)
    and the select in front of it, binary or one-hot (HSEL), for `w`-bit words, `n` of them,
    driving `out`: one text for the wide and the one-element-per-beat emission. -#@
@%- macro head_register(w, n, out) %@  generate
    if ((DREG != 0) || (RREG != 0)) begin : g_head
      // the word loaded at an emission: obw[oi_n], or with HSEL = 1 (docs/hardware.md
      // section 4, "The emitted word selected one-hot") an AND-OR of the obuf words with a
      // one-hot copy of the index (oh: word 1 after a load, rotated at each emission)
      wire [@{ w }@-1:0] hs;
      if (HSEL != 0) begin : g_onehot
        localparam [@{ n }@-1:0] OH0 = ({{(@{ n }@-1){1'b0}}, 1'b1} << 1);
        reg [@{ n }@-1:0] oh;
        always @(posedge clk) begin
          if (rst | load) begin
            oh <= OH0;
          end else if (emit) begin
            oh <= {oh[@{ n }@-2:0], oh[@{ n }@-1]};
          end
        end
        reg [@{ w }@-1:0] ho;
        integer i;
        always @(*) begin
          ho = {@{ w }@{1'b0}};
          for (i = 0; i < @{ n }@; i = i + 1) begin
            ho = (ho | ({@{ w }@{oh[i]}} & obw[i]));
          end
        end
        assign hs = ho;
      end else begin : g_binary
        assign hs = obw[oi_n];
      end
      reg  [@{ w }@-1:0] hq;
      always @(posedge clk) begin
        if (load) begin
          hq <= nxt[0 +: @{ w }@];
        end else if (emit) begin
          hq <= hs;
        end
      end
      assign @{ out }@ = hq;
    end else begin : g_head_sel
      assign @{ out }@ = obw[oi];
    end
  endgenerate
@% endmacro %@
