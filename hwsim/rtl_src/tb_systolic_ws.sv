// Testbench (not synthesised): plays folds from +in=FILE back to back into systolic_ws,
// writes every bottom-row output as "fold col value" and the busy cycle count to +out=FILE.
// Input: "nfolds T" then, per fold, R load rows of C*P stationary codes (the last row
// first) and T stream vectors of R*P codes (hex, two's complement at SW / XW bits).
module tb;
  parameter R = 4, C = 4, P = 1, SW = 8, XW = 8, ACCW = 32, SLOW = 1;
  logic clk = 1'b0;
  always #1 clk = ~clk;
  logic rst = 1'b1;
  logic load = 1'b0, in_valid = 1'b0, in_last = 1'b0;
  logic [C*P*SW-1:0] s_in = '0;
  logic [R*P*XW-1:0] x_in = '0;
  logic en, done;
  logic [C-1:0] out_valid;
  logic [C*ACCW-1:0] out_data;
  systolic_ws #(.R(R), .C(C), .P(P), .SW(SW), .XW(XW), .ACCW(ACCW), .SLOW(SLOW)) dut (.*);

  integer fi, fo, nf, tn, f, step, busy, k, rc, stage;
  logic running;
  logic [63:0] v;
  string fin, fout;

  // step < R: load row; R <= step < R + T: stream element step - R
  task automatic present(input integer st);
    if (st < R) begin
      load <= 1'b1; in_valid <= 1'b0; in_last <= 1'b0;
      for (k = 0; k < C * P; k = k + 1) begin
        rc = $fscanf(fi, "%h", v);
        s_in[k*SW +: SW] <= v[SW-1:0];
      end
    end else if (st < R + tn) begin
      load <= 1'b0; in_valid <= 1'b1; in_last <= (st == R + tn - 1);
      for (k = 0; k < R * P; k = k + 1) begin
        rc = $fscanf(fi, "%h", v);
        x_in[k*XW +: XW] <= v[XW-1:0];
      end
    end else begin
      load <= 1'b0; in_valid <= 1'b0; in_last <= 1'b0;
    end
  endtask

  initial begin
    if (!$value$plusargs("in=%s", fin) || !$value$plusargs("out=%s", fout)) $fatal(1, "need +in= +out=");
    fi = $fopen(fin, "r");
    fo = $fopen(fout, "w");
    if (fi == 0 || fo == 0) $fatal(1, "cannot open files");
    rc = $fscanf(fi, "%d %d", nf, tn);
    busy = 0; f = 0; step = 0; stage = 0; running = 1'b0;
  end

  always @(posedge clk) begin
    if (running) begin
      busy <= busy + 1;
      for (k = 0; k < C; k = k + 1)
        if (out_valid[k]) $fwrite(fo, "%0d %0d %0d\n", f, k, $signed(out_data[k*ACCW +: ACCW]));
    end
    if (stage == 0) begin
      stage <= 1;
      rst <= 1'b0;
      if (nf > 0) begin running <= 1'b1; step <= 0; present(0); end
    end else if (stage == 1 && running && en) begin
      if (done) begin
        if (f + 1 < nf) begin f <= f + 1; step <= 0; present(0); end
        else begin running <= 1'b0; present(R + tn); stage <= 2; end
      end else begin
        step <= step + 1; present(step + 1);
      end
    end else if (stage == 2 || (stage == 1 && !running)) begin
      $fwrite(fo, "cycles %0d\n", busy);
      $fclose(fo);
      $finish;
    end
  end
endmodule
