// One binary MMA unit: TM x TN popcount lanes over a TS-bit slice, accumulating over the
// TC slices of a tile. `pc` is the lane's popcount including this slice.
module bmma_unit #(
    parameter TM = 2,
    parameter TN = 2,
    parameter TS = 32,
    parameter PCW = 16
) (
    input  logic                          clk,
    input  logic                          lop,   // 0: AND-popcount, 1: XOR (XNOR) popcount
    input  logic                          en,
    input  logic                          clr,   // first slice of a tile
    input  logic [TM-1:0][TS-1:0]         a,
    input  logic [TN-1:0][TS-1:0]         w,
    output logic [TM-1:0][TN-1:0][PCW-1:0] pc
);
  function automatic logic [PCW-1:0] popc(input logic [TS-1:0] v);
    logic [PCW-1:0] s;
    s = '0;
    for (int b = 0; b < TS; b++) s = s + {{(PCW-1){1'b0}}, v[b]};
    return s;
  endfunction
  logic [TM-1:0][TN-1:0][PCW-1:0] acc;
  always_comb begin
    for (int r = 0; r < TM; r++)
      for (int c = 0; c < TN; c++) begin
        if (!lop) pc[r][c] = (clr ? '0 : acc[r][c]) + popc(a[r] & w[c]);
        else pc[r][c] = (clr ? '0 : acc[r][c]) + ((popc(a[r]) + popc(w[c]) - popc(a[r] ^ w[c])) >> 1);
      end
  end
  always_ff @(posedge clk) if (en) acc <= pc;
endmodule
