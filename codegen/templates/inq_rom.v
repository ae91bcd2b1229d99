// @{ header }@
// inq_rom: weight ROM read when en is set (the engine sets it at reset and at each fire, with
// the address of the fold that follows), so its output always equals the word of the
// engine's current fold (docs/hardware.md section 4). BANKS = 1: the output is a register.
// BANKS > 1 (a deep ROM in logic, docs/hardware.md section 4, "Weight ROMs in banks"): the
// words are BANKS banks of 256, each read into a register of its own at en beside the
// address's upper bits, and the output selects among the banks' registers (the engine's
// weight register, WREG, takes it), so no read goes through more than one 256:1 select.
// FILE names the memory image (by file name, docs/hardware.md section 8); the default is empty
// so that the module elaborates on its own, and $readmemh is only called for a non-empty name.
module inq_rom #(
  parameter integer DW    = 8,
  parameter integer DEPTH = 2,
  parameter integer AW    = 1,
  parameter integer BANKS = 1,
  parameter         FILE  = ""
) (
  input  wire          clk,
  input  wire [AW-1:0] addr,
  input  wire          en,
  output wire [DW-1:0] q
);
  // words of a bank, and the memory's words (whole banks: the words past DEPTH are never
  // selected)
  localparam integer BW_I  = 8;
  localparam integer MD    = (BANKS > 1) ? (BANKS * 256) : DEPTH;
  reg [DW-1:0] mem [0:MD-1];
  generate
    if (FILE != "") begin : g_init
      initial begin
        $readmemh(FILE, mem, 0, DEPTH - 1);
      end
    end
  endgenerate
  generate
    if (BANKS > 1) begin : g_banks
      localparam integer HW = AW - BW_I;
      reg [BANKS*DW-1:0] bq;
      reg [HW-1:0]       hq;
      integer j;
      always @(posedge clk) begin
        if (en) begin
          for (j = 0; j < BANKS; j = j + 1) begin
            bq[j*DW +: DW] <= mem[j*256 + {{(32-BW_I){1'b0}}, addr[BW_I-1:0]}];
          end
          hq <= addr[AW-1:BW_I];
        end
      end
      reg [DW-1:0] qs;
      integer k;
      always @(*) begin
        qs = bq[0 +: DW];
        for (k = 1; k < BANKS; k = k + 1) begin
          if ({{(32-HW){1'b0}}, hq} == k) begin
            qs = bq[k*DW +: DW];
          end
        end
      end
      assign q = qs;
    end else begin : g_reg
      reg [DW-1:0] qr;
      always @(posedge clk) begin
        if (en) begin
          qr <= mem[addr];
        end
      end
      assign q = qr;
    end
  endgenerate
endmodule
