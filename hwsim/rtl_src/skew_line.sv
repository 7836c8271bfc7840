// D-step delay line (D = 0: a wire); advances on `en`. Used for the systolic skews.
module skew_line #(
    parameter W = 8,
    parameter D = 1
) (
    input  logic         clk,
    input  logic         rst,
    input  logic         en,
    input  logic [W-1:0] din,
    output logic [W-1:0] dout
);
  generate
    if (D == 0) begin : g_wire
      assign dout = din;
    end else if (D == 1) begin : g_one
      always_ff @(posedge clk)
        if (rst) dout <= '0;
        else if (en) dout <= din;
    end else begin : g_shift
      logic [D*W-1:0] q;
      always_ff @(posedge clk)
        if (rst) q <= '0;
        else if (en) q <= {q[(D-1)*W-1:0], din};
      assign dout = q[D*W-1 -: W];
    end
  endgenerate
endmodule
