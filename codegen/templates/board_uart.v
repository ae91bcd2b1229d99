// @{ header }@
// @{ module }@: a board top for the @{ board }@ (@{ part }@, @{ clock_mhz }@ MHz oscillator used
// directly, no PLL: the core's Fmax on this part is above it). Images arrive over the UART
// (8N1, @{ baud }@ baud: CLKS_PER_BIT clocks per bit), one byte per input element in the
// order of the AXI4-Stream input (docs/hardware.md section 2; the low @{ in_w }@ bits are the
// element); for each image the class (the argmax of the logits, 0..@{ classes - 1 }@) is sent
// back as one byte. Input bytes wait in a FIFO of one image (@{ fifo_depth }@ bytes, block
// RAM): a host that sends an image and then waits for its class can never overflow it. An
// overflow (a host sending ahead) lights the red LED and stays until reset; the green LED
// toggles with every class sent. BTN_N (active low) resets; so does power-up.
module @{ module }@ #(
  parameter integer CLKS_PER_BIT = @{ clks_per_bit }@
) (
  input  wire CLK,
  input  wire BTN_N,
  input  wire RX,
  output wire TX,
  output wire LEDR_N,
  output wire LEDG_N
);
  localparam integer CW = $clog2(CLKS_PER_BIT + 1);
  localparam integer HALF_I = CLKS_PER_BIT / 2;
  localparam [CW-1:0] HALF = HALF_I[CW-1:0];
  localparam integer LASTC_I = CLKS_PER_BIT - 1;
  localparam [CW-1:0] LASTC = LASTC_I[CW-1:0];
  localparam integer FAW = @{ fifo_aw }@;

  // ---- reset: power-up (flip-flops start at 0 on iCE40) or the button ----
  reg [3:0] por = 4'd0;
  reg [1:0] btn_s = 2'b11;
  always @(posedge CLK) begin
    btn_s <= {btn_s[0], BTN_N};
    if (~&por) begin
      por <= (por + 4'd1);
    end
  end
  wire rst = ((~&por) | (~btn_s[1]));

  // ---- UART receiver: two-flop synchronizer, start bit checked at mid-bit ----
  reg [1:0]    rx_s = 2'b11;
  reg [1:0]    rx_st;     // 0 idle, 1 start bit, 2 data bits, 3 stop bit
  reg [CW-1:0] rx_cnt;
  reg [2:0]    rx_bit;
  reg [7:0]    rx_sh;
  reg          rx_valid;  // one cycle: rx_sh holds a received byte
  always @(posedge CLK) begin
    rx_s <= {rx_s[0], RX};
    rx_valid <= 1'b0;
    if (rst) begin
      rx_st <= 2'd0;
      rx_cnt <= {CW{1'b0}};
      rx_bit <= 3'd0;
    end else begin
      case (rx_st)
        2'd0: begin
          rx_cnt <= {CW{1'b0}};
          if (~rx_s[1]) rx_st <= 2'd1;
        end
        2'd1: begin
          if (rx_cnt == HALF) begin
            rx_cnt <= {CW{1'b0}};
            rx_bit <= 3'd0;
            rx_st <= (rx_s[1] ? 2'd0 : 2'd2);
          end else begin
            rx_cnt <= (rx_cnt + 1'b1);
          end
        end
        2'd2: begin
          if (rx_cnt == LASTC) begin
            rx_cnt <= {CW{1'b0}};
            rx_sh <= {rx_s[1], rx_sh[7:1]};
            rx_bit <= (rx_bit + 3'd1);
            if (rx_bit == 3'd7) rx_st <= 2'd3;
          end else begin
            rx_cnt <= (rx_cnt + 1'b1);
          end
        end
        default: begin
          if (rx_cnt == LASTC) begin
            rx_st <= 2'd0;
            rx_valid <= rx_s[1];
          end else begin
            rx_cnt <= (rx_cnt + 1'b1);
          end
        end
      endcase
    end
  end

  // ---- input FIFO (one image), synchronous read into a holding register ----
  reg [7:0]   fifo [0:(1<<FAW)-1];
  reg [FAW:0] wr_p;
  reg [FAW:0] rd_p;
  reg [7:0]   in_q;
  reg         in_v;
  reg         overflow;
  wire        f_empty = (wr_p == rd_p);
  wire        f_full  = ((wr_p[FAW] != rd_p[FAW]) & (wr_p[FAW-1:0] == rd_p[FAW-1:0]));
  wire        s_ready;
  wire        take = (in_v & s_ready);
  wire        pop  = ((~f_empty) & ((~in_v) | take));
  wire        push = (rx_valid & (~f_full));
  always @(posedge CLK) begin
    if (push) begin
      fifo[wr_p[FAW-1:0]] <= rx_sh;
    end
    if (pop) begin
      in_q <= fifo[rd_p[FAW-1:0]];
    end
  end
  always @(posedge CLK) begin
    if (rst) begin
      wr_p <= {(FAW+1){1'b0}};
      rd_p <= {(FAW+1){1'b0}};
      in_v <= 1'b0;
      overflow <= 1'b0;
    end else begin
      if (push) wr_p <= (wr_p + 1'b1);
      if (pop) rd_p <= (rd_p + 1'b1);
      if (pop) begin
        in_v <= 1'b1;
      end else if (take) begin
        in_v <= 1'b0;
      end
      if (rx_valid & f_full) overflow <= 1'b1;
    end
  end

  // ---- the core ----
  /* verilator lint_off UNUSED */
  // Justification: only the class (tuser at tlast) is sent back; the logits and the unused
  // high bits of an input byte are not.
  wire [@{ out_w - 1 }@:0] logit;
  wire [7:0] in_byte = in_q;
  /* verilator lint_on UNUSED */
  wire       m_valid;
  wire       m_last;
  wire       m_ready;
  wire [@{ idx_w - 1 }@:0] m_class;
  inq_top u_core (
    .clk(CLK), .rst(rst),
    .s_axis_tdata(in_byte[@{ in_w - 1 }@:0]), .s_axis_tvalid(in_v), .s_axis_tready(s_ready),
    .s_axis_tlast(1'b0),
    .m_axis_tdata(logit), .m_axis_tvalid(m_valid), .m_axis_tready(m_ready),
    .m_axis_tlast(m_last), .m_axis_tuser(m_class)
  );

  // ---- UART transmitter: one byte (the class) per image, held while the line is busy ----
  reg [7:0]    tx_hold;
  reg          tx_hv;     // tx_hold holds a class not yet sent
  reg [9:0]    tx_sh;     // stop, data, start (LSB first)
  reg [3:0]    tx_n;      // bits left to send
  reg [CW-1:0] tx_cnt;
  reg          tx_line;
  reg          led_g;
  assign m_ready = ~(m_last & tx_hv);
  always @(posedge CLK) begin
    if (rst) begin
      tx_hv <= 1'b0;
      tx_n <= 4'd0;
      tx_cnt <= {CW{1'b0}};
      tx_line <= 1'b1;
      led_g <= 1'b0;
    end else begin
      if (m_valid & m_ready & m_last) begin
        tx_hold <= {{(8-@{ idx_w }@){1'b0}}, m_class};
        tx_hv <= 1'b1;
      end
      if (tx_n == 4'd0) begin
        if (tx_hv & ~(m_valid & m_ready & m_last)) begin
          tx_sh <= {1'b1, tx_hold, 1'b0};
          tx_n <= 4'd10;
          tx_cnt <= {CW{1'b0}};
          tx_hv <= 1'b0;
          led_g <= ~led_g;
        end
      end else if (tx_cnt == {CW{1'b0}}) begin
        tx_line <= tx_sh[0];
        tx_sh <= {1'b1, tx_sh[9:1]};
        tx_cnt <= LASTC;
      end else begin
        tx_cnt <= (tx_cnt - 1'b1);
        if (tx_cnt == {{(CW-1){1'b0}}, 1'b1}) tx_n <= (tx_n - 4'd1);
      end
    end
  end
  assign TX = tx_line;
  assign LEDR_N = ~overflow;
  assign LEDG_N = ~led_g;
endmodule
