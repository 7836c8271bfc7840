// Bit-serial PE array, Stripes / Loom style (lowbit RTL cross-check,
// hwsim/cyclesim/bit_serial.py).
//
// PM x PN output PEs, each reducing PK lanes. Every cycle the feeder presents one
// (weight chunk, activation chunk) pair for all lanes: a_in = activation chunk bits
// A[m, k] (ACW bits each, PM*PK of them), w_in = weight chunk bits W[k, n] (WCW bits
// each, PK*PN), with a_sgn / w_sgn (the chunk is the top, sign-carrying chunk of a
// signed code: sign-extend it, else zero-extend) and `shift` (the two chunks' bit
// offsets added). A PE forms the chunk dot product over its lanes, shifts it and adds
// it into its accumulator (cleared by `first`); with `last` it registers the sum into
// `res` and `done` is high in that cycle. Serial activations with bit-parallel weights
// (Stripes): ACW = bits per cycle, WCW = the weight width; both serial (Loom): both
// chunk widths are the bits per cycle. One cycle per chunk pair, no fill.
module bit_serial #(
    parameter PM = 2,
    parameter PK = 4,
    parameter PN = 2,
    parameter ACW = 1,
    parameter WCW = 8,
    parameter SHW = 6,
    parameter ACCW = 32
) (
    input  logic                   clk,
    input  logic                   rst,
    input  logic                   in_valid,
    input  logic                   first,
    input  logic                   last,
    input  logic                   a_sgn,
    input  logic                   w_sgn,
    input  logic [SHW-1:0]         shift,
    input  logic [PM*PK*ACW-1:0]   a_in,
    input  logic [PK*PN*WCW-1:0]   w_in,
    output logic                   done,
    output logic [PM*PN*ACCW-1:0]  res
);
  assign done = in_valid & last;
  genvar i, j;
  generate
    for (i = 0; i < PM; i = i + 1) begin : g_m
      for (j = 0; j < PN; j = j + 1) begin : g_n
        logic signed [ACCW-1:0] dot, acc, nxt;
        integer q;
        always_comb begin
          dot = '0;
          for (q = 0; q < PK; q = q + 1)
            dot = dot + $signed({a_sgn & a_in[(i*PK+q)*ACW + ACW-1], a_in[(i*PK+q)*ACW +: ACW]})
                      * $signed({w_sgn & w_in[(q*PN+j)*WCW + WCW-1], w_in[(q*PN+j)*WCW +: WCW]});
          nxt = (first ? '0 : acc) + (dot <<< shift);
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
