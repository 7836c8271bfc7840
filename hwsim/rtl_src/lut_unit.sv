// One LUT unit's lookup stage: TM x TN lanes, index from TK plane bits per column, table
// entry select, mirror negation, output register (the pipeline stage).
module lut_unit #(
    parameter TM = 2,
    parameter TN = 4,
    parameter TK = 4,
    parameter TB = 8
) (
    input  logic                                  clk,
    input  logic [TM-1:0][(1<<(TK-1))-1:0][TB-1:0] tables,
    input  logic [TN-1:0][TK-1:0]                  idx,
    output logic signed [TM-1:0][TN-1:0][TB-1:0]   val_q
);
  localparam H = 1 << (TK - 1);
  always_ff @(posedge clk) begin
    for (int r = 0; r < TM; r++)
      for (int c = 0; c < TN; c++) begin
        logic [TK-2:0] s;
        s = idx[c][TK-1] ? idx[c][TK-2:0] : ~idx[c][TK-2:0];
        val_q[r][c] <= idx[c][TK-1] ? $signed(tables[r][s]) : -$signed(tables[r][s]);
      end
  end
endmodule
