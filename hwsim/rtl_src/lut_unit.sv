// One LUT unit's lookup stage: TM x TN lanes, index from TK plane bits per column, table
// entry select, mirror negation, output register (the pipeline stage). Flat vectors:
// tables[(r * 2^(K-1) + e) * TB +: TB], idx[c * TK +: TK], val_q[(r * TN + c) * TB +: TB].
module lut_unit #(
    parameter TM = 2,
    parameter TN = 4,
    parameter TK = 4,
    parameter TB = 8
) (
    input  logic                          clk,
    input  logic [TM*(1<<(TK-1))*TB-1:0]  tables,
    input  logic [TN*TK-1:0]              idx,
    output logic [TM*TN*TB-1:0]           val_q
);
  localparam H = 1 << (TK - 1);
  genvar r, c;
  generate
    for (r = 0; r < TM; r = r + 1) begin : g_r
      for (c = 0; c < TN; c = c + 1) begin : g_c
        wire top = idx[c*TK + TK - 1];
        wire [TK-2:0] s = top ? idx[c*TK +: TK-1] : ~idx[c*TK +: TK-1];
        wire [TB-1:0] e = tables[(r*H + s)*TB +: TB];
        always_ff @(posedge clk) val_q[(r*TN + c)*TB +: TB] <= top ? e : -e;
      end
    end
  endgenerate
endmodule
