// Testbench (not synthesised): plays folds from +in=FILE back to back into systolic_os,
// writes each fold's R x C results and the busy cycle count to +out=FILE.
// Input: "nfolds T" then, per fold and step t, R*P activation then C*P weight codes (hex,
// two's complement at AW / WW bits). Output: per fold R*C signed results, then "cycles N".
module tb;
  parameter R = 4, C = 4, P = 1, AW = 8, WW = 8, ACCW = 32, SLOW = 1;
  logic clk = 1'b0;
  always #1 clk = ~clk;
  logic rst = 1'b1;
  logic in_valid = 1'b0, in_first = 1'b0, in_last = 1'b0;
  logic [R*P*AW-1:0] a_in = '0;
  logic [C*P*WW-1:0] w_in = '0;
  logic en, done;
  logic [R*C*ACCW-1:0] res;
  systolic_os #(.R(R), .C(C), .P(P), .AW(AW), .WW(WW), .ACCW(ACCW), .SLOW(SLOW)) dut (.*);

  integer fi, fo, nf, tn, f, t, busy, k, rc, stage;
  logic running, dump;
  logic [63:0] v;
  string fin, fout;

  task automatic next_elem(input integer tt);
    in_valid <= 1'b1;
    in_first <= (tt == 0);
    in_last <= (tt == tn - 1);
    for (k = 0; k < R * P; k = k + 1) begin
      rc = $fscanf(fi, "%h", v);
      a_in[k*AW +: AW] <= v[AW-1:0];
    end
    for (k = 0; k < C * P; k = k + 1) begin
      rc = $fscanf(fi, "%h", v);
      w_in[k*WW +: WW] <= v[WW-1:0];
    end
  endtask

  initial begin
    if (!$value$plusargs("in=%s", fin) || !$value$plusargs("out=%s", fout)) $fatal(1, "need +in= +out=");
    fi = $fopen(fin, "r");
    fo = $fopen(fout, "w");
    if (fi == 0 || fo == 0) $fatal(1, "cannot open files");
    rc = $fscanf(fi, "%d %d", nf, tn);
    busy = 0; f = 0; t = 0; stage = 0; running = 1'b0; dump = 1'b0;
  end

  always @(posedge clk) begin
    if (dump) begin
      for (k = 0; k < R * C; k = k + 1) $fwrite(fo, "%0d\n", $signed(res[k*ACCW +: ACCW]));
      dump <= 1'b0;
    end
    if (running) busy <= busy + 1;
    if (stage == 0) begin             // leave reset, present fold 0 step 0
      stage <= 1;
      rst <= 1'b0;
      if (nf > 0) begin running <= 1'b1; t <= 0; next_elem(0); end
    end else if (stage == 1 && running && en) begin
      if (done) begin
        dump <= 1'b1;
        if (f + 1 < nf) begin f <= f + 1; t <= 0; next_elem(0); end
        else begin running <= 1'b0; in_valid <= 1'b0; stage <= 2; end
      end else if (t + 1 < tn) begin
        t <= t + 1; next_elem(t + 1);
      end else begin
        t <= tn; in_valid <= 1'b0; in_first <= 1'b0; in_last <= 1'b0;
      end
    end else if (stage == 2 && !dump) begin
      $fwrite(fo, "cycles %0d\n", busy);
      $fclose(fo);
      $finish;
    end else if (stage == 1 && !running) begin
      stage <= 2;
    end
  end
endmodule
