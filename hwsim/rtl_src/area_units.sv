// Synthesis-only units for the area comparison at matched throughput (benchmarks/bench_rtl.py):
// a LUT Tensor Core tile (tables in flip-flops, `lut_unit` lookups, shift-add accumulators)
// and a MAC DP4 array (4 AB x WB products per output, adder tree, accumulator), both with
// ACCW-bit accumulators and the same accumulate interface. Neither has table precompute:
// LUT Tensor Core fuses it into the previous operator.

// LUT tile: TM tables of 2^(K-1) TB-bit entries (written through `t_we`), TM x TN lanes;
// each cycle one weight bit plane (TK bits per column) is looked up and shift-added (+-2^sh).
module lut_tile_area #(
    parameter TM = 2,
    parameter TN = 16,
    parameter TK = 4,
    parameter TB = 8,
    parameter ACCW = 32
) (
    input  logic                          clk,
    input  logic                          t_we,
    input  logic [TM*(1<<(TK-1))*TB-1:0]  t_in,
    input  logic [TN*TK-1:0]              idx,
    input  logic [3:0]                    sh,
    input  logic                          neg,
    input  logic                          first,
    output logic [TM*TN*ACCW-1:0]         acc
);
  logic [TM*(1<<(TK-1))*TB-1:0] tables;
  logic [TM*TN*TB-1:0] val_q;
  logic [3:0] sh_q;
  logic neg_q, first_q;
  always_ff @(posedge clk) begin
    if (t_we) tables <= t_in;
    sh_q <= sh; neg_q <= neg; first_q <= first;
  end
  lut_unit #(.TM(TM), .TN(TN), .TK(TK), .TB(TB)) unit (.clk(clk), .tables(tables), .idx(idx), .val_q(val_q));
  genvar l;
  generate
    for (l = 0; l < TM * TN; l = l + 1) begin : g_l
      wire signed [ACCW-1:0] v = $signed(val_q[l*TB +: TB]) <<< sh_q;
      always_ff @(posedge clk)
        acc[l*ACCW +: ACCW] <= (first_q ? '0 : acc[l*ACCW +: ACCW]) + (neg_q ? -v : v);
    end
  endgenerate
endmodule

// MAC DP4 array: PM x PN outputs, each 4 signed AB x WB products per cycle (operands
// registered), summed and accumulated.
module mac_dp4 #(
    parameter PM = 2,
    parameter PN = 16,
    parameter AB = 8,
    parameter WB = 2,
    parameter ACCW = 32
) (
    input  logic                   clk,
    input  logic                   first,
    input  logic [PM*4*AB-1:0]     a,
    input  logic [PN*4*WB-1:0]     w,
    output logic [PM*PN*ACCW-1:0]  acc
);
  logic [PM*4*AB-1:0] a_q;
  logic [PN*4*WB-1:0] w_q;
  logic first_q;
  always_ff @(posedge clk) begin
    a_q <= a; w_q <= w; first_q <= first;
  end
  genvar r, c;
  generate
    for (r = 0; r < PM; r = r + 1) begin : g_r
      for (c = 0; c < PN; c = c + 1) begin : g_c
        wire signed [ACCW-1:0] dot =
            $signed(a_q[(r*4 + 0)*AB +: AB]) * $signed(w_q[(c*4 + 0)*WB +: WB])
          + $signed(a_q[(r*4 + 1)*AB +: AB]) * $signed(w_q[(c*4 + 1)*WB +: WB])
          + $signed(a_q[(r*4 + 2)*AB +: AB]) * $signed(w_q[(c*4 + 2)*WB +: WB])
          + $signed(a_q[(r*4 + 3)*AB +: AB]) * $signed(w_q[(c*4 + 3)*WB +: WB]);
        always_ff @(posedge clk)
          acc[(r*PN + c)*ACCW +: ACCW] <= (first_q ? '0 : acc[(r*PN + c)*ACCW +: ACCW]) + dot;
      end
    end
  endgenerate
endmodule

// MAC dot-product array: PM x PN outputs, each a K-long dot product of signed AB x WB operands
// per cycle (operands registered), summed and accumulated: one tensor-core unit when PM x PN x K
// is its tile (an A100 INT8 unit: 8 x 4 x 16). One `mac_dot_out` per output, so Yosys can
// synthesise the output once and count it PM x PN times (synth_cells(flatten=False)).
module mac_dot_out #(
    parameter K = 16,
    parameter AB = 8,
    parameter WB = 8,
    parameter ACCW = 32
) (
    input  logic                   clk,
    input  logic                   first_q,
    input  logic [K*AB-1:0]        a_q,
    input  logic [K*WB-1:0]        w_q,
    output logic [ACCW-1:0]        acc
);
  logic signed [ACCW-1:0] dot;
  always_comb begin
    dot = '0;
    for (int k = 0; k < K; k = k + 1)
      dot = dot + $signed(a_q[k*AB +: AB]) * $signed(w_q[k*WB +: WB]);
  end
  always_ff @(posedge clk) acc <= (first_q ? '0 : acc) + dot;
endmodule

module mac_dot #(
    parameter PM = 8,
    parameter PN = 4,
    parameter K = 16,
    parameter AB = 8,
    parameter WB = 8,
    parameter ACCW = 32
) (
    input  logic                   clk,
    input  logic                   first,
    input  logic [PM*K*AB-1:0]     a,
    input  logic [PN*K*WB-1:0]     w,
    output logic [PM*PN*ACCW-1:0]  acc
);
  logic [PM*K*AB-1:0] a_q;
  logic [PN*K*WB-1:0] w_q;
  logic first_q;
  always_ff @(posedge clk) begin
    a_q <= a; w_q <= w; first_q <= first;
  end
  genvar r, c;
  generate
    for (r = 0; r < PM; r = r + 1) begin : g_r
      for (c = 0; c < PN; c = c + 1) begin : g_c
        mac_dot_out #(.K(K), .AB(AB), .WB(WB), .ACCW(ACCW)) u (
            .clk(clk), .first_q(first_q), .a_q(a_q[r*K*AB +: K*AB]), .w_q(w_q[c*K*WB +: K*WB]),
            .acc(acc[(r*PN + c)*ACCW +: ACCW]));
      end
    end
  endgenerate
endmodule
