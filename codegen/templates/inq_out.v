// @{ header }@
// inq_out: output stage (docs/hardware.md section 7): tlast after N logits, running argmax on tuser.
module inq_out #(
  parameter integer W    = 16,
  parameter integer N    = 10,
  parameter integer IDXW = 4
) (
  input  wire            clk,
  input  wire            rst,
  input  wire [W-1:0]    s_data,
  input  wire            s_valid,
  output wire            s_ready,
  output wire [W-1:0]    m_axis_tdata,
  output wire            m_axis_tvalid,
  input  wire            m_axis_tready,
  output wire            m_axis_tlast,
  output wire [IDXW-1:0] m_axis_tuser
);
  localparam integer LAST_I = N - 1;
  localparam [IDXW-1:0] LAST = LAST_I[IDXW-1:0];

  reg [IDXW-1:0] idx;
  reg [W-1:0]    best;
  reg [IDXW-1:0] best_idx;

  wire take = ((idx == {IDXW{1'b0}}) | ($signed(s_data) > $signed(best)));
  wire fire = (s_valid & m_axis_tready);

  assign m_axis_tdata  = s_data;
  assign m_axis_tvalid = s_valid;
  assign s_ready       = m_axis_tready;
  assign m_axis_tlast  = (idx == LAST);
  assign m_axis_tuser  = (take ? idx : best_idx);

  always @(posedge clk) begin
    if (rst) begin
      idx      <= {IDXW{1'b0}};
      best     <= {W{1'b0}};
      best_idx <= {IDXW{1'b0}};
    end else if (fire) begin
      idx <= ((idx == LAST) ? {IDXW{1'b0}} : (idx + 1'b1));
      if (take) begin
        best     <= s_data;
        best_idx <= idx;
      end
    end
  end
endmodule
