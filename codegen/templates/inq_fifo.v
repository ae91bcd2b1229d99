// @{ header }@
// inq_fifo: synchronous FIFO of any depth D >= 2 (docs/hardware.md section 3). The read and
// write pointers wrap by overflow when D is a power of two and explicitly otherwise. SRD = 1
// (a FIFO the plan puts in block RAM): the storage is read synchronously at the next read
// address, and a word written at the same edge to that address is forwarded, with the
// forwarding decided from the count flags instead of an address comparison (same values
// every cycle as the asynchronous read of SRD = 0).
module inq_fifo #(
  parameter integer W = 8,
  parameter integer D = 2,
  parameter integer SRD = 0
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
  localparam integer TWO_I = 2;
  localparam [CNW-1:0] TWO = TWO_I[CNW-1:0];
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
  // count == 1, kept like full and nempty
  /* verilator lint_off UNUSED */
  // Justification: read by the forwarding of SRD = 1 only.
  reg           one;
  /* verilator lint_on UNUSED */

  wire s_fire = (s_valid & s_ready);
  wire m_fire = (m_valid & m_ready);

  assign s_ready = (~full);
  assign m_valid = nempty;

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

  // ---- the read ----
  generate
    if (SRD != 0) begin : g_sync
      // rdq: the word at the read address of this cycle, read at the last edge at the then
      // next address rd_n; fw: the word written at the last edge went to that address, which
      // happens exactly when the FIFO was empty (rd_n = rd = wr) or held one element that was
      // read (rd_n = rd + 1 = wr), so fw comes from the count flags (docs/hardware.md section 3)
      wire [AW-1:0] rd_n = (m_fire ? rd_nxt : rd);
      reg  [W-1:0]  rdq;
      reg  [W-1:0]  wdq;
      reg           fw;
      always @(posedge clk) begin
        rdq <= mem[rd_n];
        wdq <= s_data;
        fw  <= ((~rst) & s_fire & (m_fire ? one : (~nempty)));
      end
      assign m_data = (fw ? wdq : rdq);
    end else begin : g_async
      assign m_data = mem[rd];
    end
  endgenerate

  always @(posedge clk) begin
    if ((~rst) & s_fire) begin
      mem[wr] <= s_data;
    end
  end

  always @(posedge clk) begin
    if (rst) begin
      rd    <= {AW{1'b0}};
      wr    <= {AW{1'b0}};
      count <= {CNW{1'b0}};
      full  <= 1'b0;
      nempty <= 1'b0;
      one   <= 1'b0;
    end else begin
      if (s_fire) begin
        wr      <= wr_nxt;
      end
      if (m_fire) begin
        rd <= rd_nxt;
      end
      if (s_fire & (~m_fire)) begin
        count  <= (count + 1'b1);
        full   <= (count == DM1);
        nempty <= 1'b1;
        one    <= (~nempty);
      end else if ((~s_fire) & m_fire) begin
        count  <= (count - 1'b1);
        full   <= 1'b0;
        nempty <= (count != ONE);
        one    <= (count == TWO);
      end
    end
  end
endmodule
