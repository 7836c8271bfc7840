// One binary MMA unit: TM x TN popcount lanes over a TS-bit slice, accumulating over the
// TC slices of a tile (`clr` on the first). `pc` is each lane's popcount including this
// slice. lop 0: AND-popcount; 1: XOR-popcount, a.w = (popc(a) + popc(w) - popc(a ^ w)) / 2.
// Flat vectors: a[r * TS +: TS], w[c * TS +: TS], pc[(r * TN + c) * PCW +: PCW].
module bmma_unit #(
    parameter TM = 2,
    parameter TN = 2,
    parameter TS = 32,
    parameter PCW = 16
) (
    input  logic                  clk,
    input  logic                  lop,
    input  logic                  en,
    input  logic                  clr,
    input  logic [TM*TS-1:0]      a,
    input  logic [TN*TS-1:0]      w,
    output logic [TM*TN*PCW-1:0]  pc
);
  function automatic [PCW-1:0] popc(input [TS-1:0] v);
    integer b;
    begin
      popc = '0;
      for (b = 0; b < TS; b = b + 1) popc = popc + {{(PCW-1){1'b0}}, v[b]};
    end
  endfunction
  genvar r, c;
  generate
    for (r = 0; r < TM; r = r + 1) begin : g_r
      for (c = 0; c < TN; c = c + 1) begin : g_c
        wire [TS-1:0] ar = a[r*TS +: TS];
        wire [TS-1:0] wc = w[c*TS +: TS];
        logic [PCW-1:0] acc;
        wire [PCW-1:0] cnt = lop ? ((popc(ar) + popc(wc) - popc(ar ^ wc)) >> 1) : popc(ar & wc);
        assign pc[(r*TN + c)*PCW +: PCW] = (clr ? '0 : acc) + cnt;
        always_ff @(posedge clk) if (en) acc <= pc[(r*TN + c)*PCW +: PCW];
      end
    end
  endgenerate
endmodule
