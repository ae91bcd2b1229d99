// @{ header }@
// inq_rom: weight ROM with a registered output. The address is the *next* value of the
// engine's address register, so q always equals mem[current address] (docs/hardware.md section 4).
module inq_rom #(
  parameter integer DW    = 8,
  parameter integer DEPTH = 2,
  parameter integer AW    = 1,
  parameter         FILE  = "rom.hex"
) (
  input  wire          clk,
  input  wire [AW-1:0] addr,
  output reg  [DW-1:0] q
);
  reg [DW-1:0] mem [0:DEPTH-1];
  initial begin
    $readmemh(FILE, mem);
  end
  always @(posedge clk) begin
    q <= mem[addr];
  end
endmodule
