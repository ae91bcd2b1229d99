// @{ header }@
// inq_rom: weight ROM with a registered output, read when en is set (the engine sets it at
// reset and at each fire, with the address of the fold that follows), so q always equals the
// word of the engine's current fold (docs/hardware.md section 4).
// FILE names the memory image (by file name, docs/hardware.md section 8); the default is empty
// so that the module elaborates on its own, and $readmemh is only called for a non-empty name.
module inq_rom #(
  parameter integer DW    = 8,
  parameter integer DEPTH = 2,
  parameter integer AW    = 1,
  parameter         FILE  = ""
) (
  input  wire          clk,
  input  wire [AW-1:0] addr,
  input  wire          en,
  output reg  [DW-1:0] q
);
  reg [DW-1:0] mem [0:DEPTH-1];
  generate
    if (FILE != "") begin : g_init
      initial begin
        $readmemh(FILE, mem);
      end
    end
  endgenerate
  always @(posedge clk) begin
    if (en) begin
      q <= mem[addr];
    end
  end
endmodule
