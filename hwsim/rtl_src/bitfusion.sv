// Bit Fusion fusion-unit array (Sharma et al., ISCA 2018; lowbit RTL cross-check of the
// bit_serial family's Bit Fusion mode, hwsim/cores/bit_serial.py with fusion_brick_bits > 0,
// and its stepped simulator hwsim/cyclesim/bit_serial.py).
//
// A Fusion Unit (`fusion_unit`) holds FB BitBricks of BB x BB bits. At run time the mode
// (lnw, lna: log2 of the bricks one weight / one activation occupies, and signedness)
// routes operand bits to bricks: brick b takes pair p = cyc * FB + b, i.e. MAC
// f = p / (nw * na), weight brick i and activation brick j of it; the top brick of a signed
// operand is sign-extended, the others are unsigned; the products are shifted by
// (i + j) * BB and summed. Operands arrive packed: F = FB / (nw * na) values of nw * BB
// (nw * na <= FB: F MACs along K per cycle) or one value spread over nw * na / FB cycles
// (`cyc` counts them). The array is PM x PK x PN fusion units; PE (m, n) reduces its PK
// units, shifts nothing more, and accumulates (cleared by `first`); with `last` it
// registers the sum into `res` and `done` is high. One cycle per schedule step, no fill.

module fusion_unit #(
    parameter FB = 16,
    parameter BB = 2,
    parameter SW = 32
) (
    input  logic [FB*BB-1:0]     a,
    input  logic [FB*BB-1:0]     w,
    input  logic [2:0]           lnw,
    input  logic [2:0]           lna,
    input  logic                 w_sgn,
    input  logic                 a_sgn,
    input  logic [3:0]           cyc,
    output logic signed [SW-1:0] sum
);
  localparam DW = FB * BB;
  integer b, p, f, pp, i, j, wo, ao;
  logic [BB-1:0] wb, ab;
  logic signed [BB:0] ws, as_;
  logic signed [SW-1:0] prod;
  always_comb begin
    sum = '0;
    for (b = 0; b < FB; b = b + 1) begin
      p = cyc * FB + b;
      f = p >> (lnw + lna);
      pp = p & ((1 << (lnw + lna)) - 1);
      i = pp >> lna;
      j = pp & ((1 << lna) - 1);
      wo = ((f << lnw) + i) * BB;
      ao = ((f << lna) + j) * BB;
      wb = w[wo % DW +: BB];
      ab = a[ao % DW +: BB];
      ws = $signed({w_sgn & (i == (1 << lnw) - 1) & wb[BB-1], wb});
      as_ = $signed({a_sgn & (j == (1 << lna) - 1) & ab[BB-1], ab});
      prod = ws * as_;
      sum = sum + (prod <<< ((i + j) * BB));
    end
  end
endmodule

module bitfusion #(
    parameter PM = 1,
    parameter PK = 2,
    parameter PN = 2,
    parameter FB = 16,
    parameter BB = 2,
    parameter ACCW = 32
) (
    input  logic                    clk,
    input  logic                    rst,
    input  logic                    in_valid,
    input  logic                    first,
    input  logic                    last,
    input  logic [2:0]              lnw,
    input  logic [2:0]              lna,
    input  logic                    w_sgn,
    input  logic                    a_sgn,
    input  logic [3:0]              cyc,
    input  logic [PM*PK*FB*BB-1:0]  a_in,
    input  logic [PK*PN*FB*BB-1:0]  w_in,
    output logic                    done,
    output logic [PM*PN*ACCW-1:0]   res
);
  localparam DW = FB * BB;
  assign done = in_valid & last;
  genvar i, j, q;
  generate
    for (i = 0; i < PM; i = i + 1) begin : g_m
      for (j = 0; j < PN; j = j + 1) begin : g_n
        logic [PK*ACCW-1:0] part;
        integer k;
        for (q = 0; q < PK; q = q + 1) begin : g_k
          fusion_unit #(.FB(FB), .BB(BB), .SW(ACCW)) fu (
              .a(a_in[(i*PK+q)*DW +: DW]), .w(w_in[(q*PN+j)*DW +: DW]), .lnw(lnw), .lna(lna),
              .w_sgn(w_sgn), .a_sgn(a_sgn), .cyc(cyc), .sum(part[q*ACCW +: ACCW]));
        end
        logic signed [ACCW-1:0] dot, acc, nxt;
        always_comb begin
          dot = '0;
          for (k = 0; k < PK; k = k + 1) dot = dot + $signed(part[k*ACCW +: ACCW]);
          nxt = (first ? '0 : acc) + dot;
        end
        always_ff @(posedge clk) begin
          if (rst) begin
            acc <= '0; res[(i*PN+j)*ACCW +: ACCW] <= '0;
          end else if (in_valid) begin
            acc <= nxt;
            if (last) res[(i*PN+j)*ACCW +: ACCW] <= nxt;
          end
        end
      end
    end
  endgenerate
endmodule
