// Weight-/input-stationary systolic array (lowbit RTL cross-check, hwsim/cyclesim/systolic.py).
//
// R x C PEs. WS holds a weight block W[k0+i, n0+j] in PE(i, j) and streams activation
// rows; IS is the same hardware holding A^T[k0+i, m0+j] and streaming weight columns
// (the feeder swaps the operands; SW / XW are the stationary / streamed widths).
// Load: with load = 1 the row vector s_in shifts down from the top edge, one row per
// step, the last row first (R steps). Stream: in step t the feeder presents element t,
// un-skewed (x_in = stream[t, i] for every row i) with in_valid / in_last; row i is
// delayed i steps, the operand moves right one PE per step, partial sums move down one
// PE per step. Column j's sum for element t leaves the bottom row (out_valid[j],
// out_data) in step t + (R-1) + j of the stream; `done` is high with the last one.
// SLOW > 1: every step takes SLOW cycles (registers advance on `en`).
module systolic_ws #(
    parameter R = 4,
    parameter C = 4,
    parameter P = 1,
    parameter SW = 8,
    parameter XW = 8,
    parameter ACCW = 32,
    parameter SLOW = 1
) (
    input  logic                  clk,
    input  logic                  rst,
    input  logic                  load,
    input  logic [C*P*SW-1:0]     s_in,
    input  logic                  in_valid,
    input  logic                  in_last,
    input  logic [R*P*XW-1:0]     x_in,
    output logic                  en,
    output logic                  done,
    output logic [C-1:0]          out_valid,
    output logic [C*ACCW-1:0]     out_data
);
  localparam SV = P * SW;
  localparam XV = P * XW;
  localparam TG = 2;        // tag: {valid, last}

  generate
    if (SLOW > 1) begin : g_slow
      logic [$clog2(SLOW)-1:0] ph;
      always_ff @(posedge clk)
        if (rst) ph <= '0;
        else ph <= (ph == SLOW - 1) ? '0 : ph + 1'b1;
      assign en = (ph == SLOW - 1);
    end else begin : g_fast
      assign en = 1'b1;
    end
  endgenerate

  logic [R*(C+1)*XV-1:0]   xh;     // streamed operand, left to right
  logic [R*(C+1)*TG-1:0]   xt;     // its tag
  logic [(R+1)*C*SV-1:0]   sv;     // stationary load path, top to bottom
  logic [(R+1)*C*ACCW-1:0] pv;     // partial sums, top to bottom
  logic [(R+1)*C*TG-1:0]   pt;     // their tags

  genvar i, j, d;
  generate
    for (i = 0; i < R; i = i + 1) begin : g_rskew
      logic [XV+TG-1:0] sk;
      skew_line #(.W(XV + TG), .D(i)) line (.clk(clk), .rst(rst), .en(en),
          .din({x_in[i*XV +: XV], in_valid, in_last}), .dout(sk));
      assign xh[(i*(C+1))*XV +: XV] = sk[TG +: XV];
      assign xt[(i*(C+1))*TG +: TG] = sk[0 +: TG];
    end
    for (j = 0; j < C; j = j + 1) begin : g_top
      assign sv[j*SV +: SV] = s_in[j*SV +: SV];
      assign pv[j*ACCW +: ACCW] = '0;
      assign pt[j*TG +: TG] = xt[0 +: TG];  // unused: row 0 takes its tag from the stream
      assign out_data[j*ACCW +: ACCW] = pv[(R*C+j)*ACCW +: ACCW];
      assign out_valid[j] = en & pt[(R*C+j)*TG + 1];
    end
    for (i = 0; i < R; i = i + 1) begin : g_row
      for (j = 0; j < C; j = j + 1) begin : g_col
        systolic_ws_pe #(.P(P), .SW(SW), .XW(XW), .ACCW(ACCW), .TOP(i == 0),
                         .BOTTOM(i == R - 1)) pe (
            .clk(clk), .rst(rst), .en(en), .load(load),
            .s_i(sv[(i*C+j)*SV +: SV]), .s_o(sv[((i+1)*C+j)*SV +: SV]),
            .x_i(xh[(i*(C+1)+j)*XV +: XV]), .xt_i(xt[(i*(C+1)+j)*TG +: TG]),
            .x_o(xh[(i*(C+1)+j+1)*XV +: XV]), .xt_o(xt[(i*(C+1)+j+1)*TG +: TG]),
            .p_i(pv[(i*C+j)*ACCW +: ACCW]), .pt_i(pt[(i*C+j)*TG +: TG]),
            .p_o(pv[((i+1)*C+j)*ACCW +: ACCW]), .pt_o(pt[((i+1)*C+j)*TG +: TG]));
      end
    end
  endgenerate

  wire [TG-1:0] corner = pt[(R*C+C-1)*TG +: TG];
  assign done = en & corner[1] & corner[0];
endmodule

// One WS/IS PE. The bottom row's partial-sum output is combinational (it leaves the
// array in the step it is formed); the other rows register it for the row below.
module systolic_ws_pe #(
    parameter P = 1,
    parameter SW = 8,
    parameter XW = 8,
    parameter ACCW = 32,
    parameter TOP = 0,
    parameter BOTTOM = 0
) (
    input  logic               clk,
    input  logic               rst,
    input  logic               en,
    input  logic               load,
    input  logic [P*SW-1:0]    s_i,
    output logic [P*SW-1:0]    s_o,
    input  logic [P*XW-1:0]    x_i,
    input  logic [1:0]         xt_i,
    output logic [P*XW-1:0]    x_o,
    output logic [1:0]         xt_o,
    input  logic [ACCW-1:0]    p_i,
    input  logic [1:0]         pt_i,
    output logic [ACCW-1:0]    p_o,
    output logic [1:0]         pt_o
);
  logic signed [ACCW-1:0] sum;
  logic [1:0] tag;
  integer q;
  always_comb begin
    sum = TOP ? '0 : $signed(p_i);
    for (q = 0; q < P; q = q + 1)
      sum = sum + $signed(x_i[q*XW +: XW]) * $signed(s_o[q*SW +: SW]);
    tag = TOP ? xt_i : pt_i;
  end
  logic [ACCW-1:0] p_r;
  logic [1:0] pt_r;
  always_ff @(posedge clk) begin
    if (rst) begin
      s_o <= '0; x_o <= '0; xt_o <= '0; p_r <= '0; pt_r <= '0;
    end else if (en) begin
      if (load) s_o <= s_i;
      x_o <= x_i; xt_o <= xt_i;
      p_r <= sum; pt_r <= tag;
    end
  end
  generate
    if (BOTTOM) begin : g_out
      assign p_o = sum;
      assign pt_o = tag;
    end else begin : g_reg
      assign p_o = p_r;
      assign pt_o = pt_r;
    end
  endgenerate
endmodule
