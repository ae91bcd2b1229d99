// @{ header }@
// inq_fifo: synchronous FIFO of any depth D >= 2 (docs/hardware.md section 3). The read and
// write pointers wrap by overflow when D is a power of two and explicitly otherwise.
module inq_fifo #(
  parameter integer W = 8,
  parameter integer D = 2
) (
  input  wire         clk,
  input  wire         rst,
  input  wire [W-1:0] s_data,
  input  wire         s_valid,
  output wire         s_ready,
  output wire [W-1:0] m_data,
  output wire         m_valid,
  input  wire         m_ready
);
  localparam integer AW  = $clog2(D);
  localparam integer CNW = $clog2(D + 1);
  localparam integer DM1_I = D - 1;
  localparam [CNW-1:0] DM1 = DM1_I[CNW-1:0];
  localparam [CNW-1:0] ONE = {{(CNW-1){1'b0}}, 1'b1};
  localparam integer LAST_I = D - 1;
  localparam [AW-1:0] LAST = LAST_I[AW-1:0];

  reg [W-1:0]   mem [0:D-1];
  reg [AW-1:0]  rd;
  reg [AW-1:0]  wr;
  reg [CNW-1:0] count;
  // count == D and count != 0, kept as registers (updated with count), so that s_ready and
  // m_valid come straight from flip-flops (docs/hardware.md sections 3 and 12)
  reg           full;
  reg           nempty;

  wire s_fire = (s_valid & s_ready);
  wire m_fire = (m_valid & m_ready);

  assign s_ready = (~full);
  assign m_valid = nempty;
  assign m_data  = mem[rd];

  // next pointer values: (p + 1) % D
  wire [AW-1:0] wr_nxt;
  wire [AW-1:0] rd_nxt;
  generate
    if ((D & (D - 1)) == 0) begin : g_pow2
      assign wr_nxt = (wr + 1'b1);
      assign rd_nxt = (rd + 1'b1);
    end else begin : g_wrap
      assign wr_nxt = ((wr == LAST) ? {AW{1'b0}} : (wr + 1'b1));
      assign rd_nxt = ((rd == LAST) ? {AW{1'b0}} : (rd + 1'b1));
    end
  endgenerate

  always @(posedge clk) begin
    if (rst) begin
      rd    <= {AW{1'b0}};
      wr    <= {AW{1'b0}};
      count <= {CNW{1'b0}};
      full  <= 1'b0;
      nempty <= 1'b0;
    end else begin
      if (s_fire) begin
        mem[wr] <= s_data;
        wr      <= wr_nxt;
      end
      if (m_fire) begin
        rd <= rd_nxt;
      end
      if (s_fire & (~m_fire)) begin
        count  <= (count + 1'b1);
        full   <= (count == DM1);
        nempty <= 1'b1;
      end else if ((~s_fire) & m_fire) begin
        count  <= (count - 1'b1);
        full   <= 1'b0;
        nempty <= (count != ONE);
      end
    end
  end
endmodule
