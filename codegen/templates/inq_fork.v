// @{ header }@
// inq_fork: N copies of one stream (docs/hardware.md section 5c). Purely combinational: an
// element leaves the input FIFO and enters every output FIFO in the same cycle, when all of
// them have room. Output k is bits [k*W +: W] of out_data and bit k of out_valid / out_ready.
module inq_fork #(
  parameter integer W = 8,
  parameter integer N = 2
) (
  input  wire [W-1:0]   in_data,
  input  wire           in_valid,
  output wire           in_ready,
  output wire [N*W-1:0] out_data,
  output wire [N-1:0]   out_valid,
  input  wire [N-1:0]   out_ready
);
  assign in_ready = (&out_ready);
  assign out_data = {N{in_data}};
  genvar k;
  generate
    for (k = 0; k < N; k = k + 1) begin : g_out
      // out_valid[k] = in_valid && every other output is ready
      localparam [N-1:0] SELF = ({{(N-1){1'b0}}, 1'b1} << k);
      assign out_valid[k] = (in_valid & (&(out_ready | SELF)));
    end
  endgenerate
endmodule
