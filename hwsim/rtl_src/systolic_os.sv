// Output-stationary systolic array (lowbit RTL cross-check, hwsim/cyclesim/systolic.py).
//
// R x C PEs; each PE holds a P-lane signed dot product and a stationary accumulator.
// Stream interface: in cycle t the feeder presents element t of the fold's stream,
// un-skewed: a_in = A[m0+i, t] (P lanes) for every row i, w_in = W[t, n0+j] for every
// column j, with in_valid / in_first (t == 0) / in_last (t == T-1). The array skews them
// itself (row i delayed i cycles, column j delayed j cycles), so pair t meets in
// PE(i, j) in cycle t + i + j. A PE's result is registered into `res` when its last
// pair arrives; `done` is high in the cycle PE(R-1, C-1) forms its last product
// (cycle T-1 + R-1 + C-1 of the fold), `res` is complete from the next cycle.
// SLOW > 1: every wavefront step takes SLOW cycles (registers advance on `en`);
// the feeder holds its inputs until `en`.
module systolic_os #(
    parameter R = 4,
    parameter C = 4,
    parameter P = 1,
    parameter AW = 8,
    parameter WW = 8,
    parameter ACCW = 32,
    parameter SLOW = 1
) (
    input  logic                  clk,
    input  logic                  rst,
    input  logic                  in_valid,
    input  logic                  in_first,
    input  logic                  in_last,
    input  logic [R*P*AW-1:0]     a_in,
    input  logic [C*P*WW-1:0]     w_in,
    output logic                  en,
    output logic                  done,
    output logic [R*C*ACCW-1:0]   res
);
  localparam AV = P * AW;   // one PE's activation vector
  localparam WV = P * WW;
  localparam TG = 3;        // tag: {valid, first, last}

  // step enable
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

  // a / tag enter from the left of each row, w from the top of each column
  logic [R*(C+1)*AV-1:0] ah;
  logic [R*(C+1)*TG-1:0] th;
  logic [(R+1)*C*WV-1:0] wv;

  genvar i, j, d;
  generate
    for (i = 0; i < R; i = i + 1) begin : g_rskew
      // row i: i skew registers
      logic [AV+TG-1:0] sk;
      skew_line #(.W(AV + TG), .D(i)) line (.clk(clk), .rst(rst), .en(en),
          .din({a_in[i*AV +: AV], in_valid, in_first, in_last}), .dout(sk));
      assign ah[(i*(C+1))*AV +: AV] = sk[TG +: AV];
      assign th[(i*(C+1))*TG +: TG] = sk[0 +: TG];
    end
    for (j = 0; j < C; j = j + 1) begin : g_cskew
      skew_line #(.W(WV), .D(j)) line (.clk(clk), .rst(rst), .en(en),
          .din(w_in[j*WV +: WV]), .dout(wv[j*WV +: WV]));
    end
    for (i = 0; i < R; i = i + 1) begin : g_row
      for (j = 0; j < C; j = j + 1) begin : g_col
        systolic_os_pe #(.P(P), .AW(AW), .WW(WW), .ACCW(ACCW)) pe (
            .clk(clk), .rst(rst), .en(en),
            .a_i(ah[(i*(C+1)+j)*AV +: AV]), .t_i(th[(i*(C+1)+j)*TG +: TG]),
            .w_i(wv[(i*C+j)*WV +: WV]),
            .a_o(ah[(i*(C+1)+j+1)*AV +: AV]), .t_o(th[(i*(C+1)+j+1)*TG +: TG]),
            .w_o(wv[((i+1)*C+j)*WV +: WV]),
            .res(res[(i*C+j)*ACCW +: ACCW]));
      end
    end
  endgenerate

  // corner PE's incoming tag: valid and last
  wire [TG-1:0] corner = th[((R-1)*(C+1)+C-1)*TG +: TG];
  assign done = en & corner[2] & corner[0];
endmodule

module systolic_os_pe #(
    parameter P = 1,
    parameter AW = 8,
    parameter WW = 8,
    parameter ACCW = 32
) (
    input  logic               clk,
    input  logic               rst,
    input  logic               en,
    input  logic [P*AW-1:0]    a_i,
    input  logic [2:0]         t_i,    // {valid, first, last}
    input  logic [P*WW-1:0]    w_i,
    output logic [P*AW-1:0]    a_o,
    output logic [2:0]         t_o,
    output logic [P*WW-1:0]    w_o,
    output logic [ACCW-1:0]    res
);
  logic signed [ACCW-1:0] acc;
  logic signed [ACCW-1:0] dot;
  logic signed [ACCW-1:0] nxt;
  integer q;
  always_comb begin
    dot = '0;
    for (q = 0; q < P; q = q + 1)
      dot = dot + $signed(a_i[q*AW +: AW]) * $signed(w_i[q*WW +: WW]);
    nxt = (t_i[1] ? '0 : acc) + dot;
  end
  always_ff @(posedge clk) begin
    if (rst) begin
      a_o <= '0; t_o <= '0; w_o <= '0; acc <= '0; res <= '0;
    end else if (en) begin
      a_o <= a_i; t_o <= t_i; w_o <= w_i;
      if (t_i[2]) acc <= nxt;
      if (t_i[2] & t_i[0]) res <= nxt;
    end
  end
endmodule
