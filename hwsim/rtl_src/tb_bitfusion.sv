// Testbench (not synthesised): plays output tiles from +in=FILE back to back into
// bitfusion, writes each tile's PM x PN results and the busy cycle count to +out=FILE.
// Input: "ntiles ncycles_total lnw lna w_sgn a_sgn" then one line per cycle: first last cyc
// (decimal) then PM*PK activation words and PK*PN weight words (hex, FB*BB bits each).
module tb;
  parameter PM = 1, PK = 2, PN = 2, FB = 16, BB = 2, ACCW = 32;
  localparam DW = FB * BB;
  logic clk = 1'b0;
  always #1 clk = ~clk;
  logic rst = 1'b1;
  logic in_valid = 1'b0, first = 1'b0, last = 1'b0, w_sgn = 1'b0, a_sgn = 1'b0;
  logic [2:0] lnw = '0, lna = '0;
  logic [3:0] cyc = '0;
  logic [PM*PK*DW-1:0] a_in = '0;
  logic [PK*PN*DW-1:0] w_in = '0;
  logic done;
  logic [PM*PN*ACCW-1:0] res;
  bitfusion #(.PM(PM), .PK(PK), .PN(PN), .FB(FB), .BB(BB), .ACCW(ACCW)) dut (.*);

  integer fi, fo, nt, nc, c, tiles, busy, k, rc, stage, fl, la, cy, f0, f1, f2, f3;
  logic running, dump;
  logic [63:0] v;
  string fin, fout;

  task automatic next_cycle();
    rc = $fscanf(fi, "%d %d %d", fl, la, cy);
    in_valid <= 1'b1; first <= fl[0]; last <= la[0]; cyc <= cy[3:0];
    for (k = 0; k < PM * PK; k = k + 1) begin
      rc = $fscanf(fi, "%h", v);
      a_in[k*DW +: DW] <= v[DW-1:0];
    end
    for (k = 0; k < PK * PN; k = k + 1) begin
      rc = $fscanf(fi, "%h", v);
      w_in[k*DW +: DW] <= v[DW-1:0];
    end
  endtask

  initial begin
    if (!$value$plusargs("in=%s", fin) || !$value$plusargs("out=%s", fout)) $fatal(1, "need +in= +out=");
    fi = $fopen(fin, "r");
    fo = $fopen(fout, "w");
    if (fi == 0 || fo == 0) $fatal(1, "cannot open files");
    rc = $fscanf(fi, "%d %d %d %d %d %d", nt, nc, f0, f1, f2, f3);
    lnw = f0[2:0]; lna = f1[2:0]; w_sgn = f2[0]; a_sgn = f3[0];
    busy = 0; c = 0; tiles = 0; stage = 0; running = 1'b0; dump = 1'b0;
  end

  always @(posedge clk) begin
    if (dump) begin
      for (k = 0; k < PM * PN; k = k + 1) $fwrite(fo, "%0d\n", $signed(res[k*ACCW +: ACCW]));
      dump <= 1'b0;
    end
    if (running) busy <= busy + 1;
    if (stage == 0) begin
      stage <= 1;
      rst <= 1'b0;
      if (nc > 0) begin running <= 1'b1; c <= 1; next_cycle(); end
      else stage <= 2;
    end else if (stage == 1) begin
      // run until the last tile's `done`: busy counts every cycle up to and including it
      if (done) begin
        dump <= 1'b1;
        tiles <= tiles + 1;
        if (tiles + 1 == nt) begin running <= 1'b0; stage <= 2; end
      end
      if (c < nc) begin c <= c + 1; next_cycle(); end
      else in_valid <= 1'b0;
      if (busy > nc + 1000) $fatal(1, "array never finished");
    end else if (stage == 2 && !dump) begin
      $fwrite(fo, "cycles %0d\n", busy);
      $fclose(fo);
      $finish;
    end
  end
endmodule
