// Testbench (not synthesised): loads activation codes and weight codes from +in=FILE into
// lut_tc, plays the command stream (one line per cycle), counts the cycles in which the
// tile is active, then writes the M x N outputs and "cycles N" to +out=FILE.
// Input: "ncyc nxl nwl groups npad coef_sum w_off m n"; nxl lines "addr x"; nwl lines
// "addr w(hex)"; ncyc lines "kind ...": 0 idle; 1 precompute: NA x (v t j neg dbl dst start);
// 2 lookup: U x (v i sh neg a b g first).
module tb;
  parameter TM = 2, TN = 4, TK = 4, U = 2, NA = 2, XB = 9, TB = 16, WB = 8;
  parameter MAXM = 32, MAXG = 8, MAXN = 32, ACCW = 32, ADW = 16;
  logic clk = 1'b0;
  always #1 clk = ~clk;
  logic rst = 1'b1;
  logic [7:0] groups = '0;
  logic [15:0] npad = '0;
  logic signed [15:0] coef_sum = '0;
  logic w_off = 1'b0, ld_x = 1'b0, ld_w = 1'b0;
  logic [ADW-1:0] ld_addr = '0;
  logic [15:0] ld_data = '0;
  logic [NA-1:0] pc_v = '0, pc_neg = '0, pc_dbl = '0, pc_start = '0;
  logic [NA-1:0][ADW-1:0] pc_t = '0;
  logic [NA-1:0][2:0] pc_j = '0;
  logic [NA-1:0][6:0] pc_dst = '0;
  logic [U-1:0] lk_v = '0, lk_neg = '0, lk_first = '0;
  logic [U-1:0][2:0] lk_i = '0;
  logic [U-1:0][3:0] lk_sh = '0;
  logic [U-1:0][7:0] lk_a = '0, lk_b = '0, lk_g = '0;
  logic [7:0] rd_r = '0, rd_c = '0;
  logic signed [ACCW-1:0] rd_data;
  logic active;
  lut_tc #(.TM(TM), .TN(TN), .TK(TK), .U(U), .NA(NA), .XB(XB), .TB(TB), .WB(WB), .MAXM(MAXM),
           .MAXG(MAXG), .MAXN(MAXN), .ACCW(ACCW), .ADW(ADW)) dut (.*);

  integer fi, fo, rc, stage, nc, nxl, nwl, mm, nn, c, li, oi, busy, kind, i;
  integer f0, f1, f2, f3, f4, f5, f6, f7;
  logic [63:0] v;
  string fin, fout;

  task automatic next_cycle();
    pc_v <= '0; lk_v <= '0;
    rc = $fscanf(fi, "%d", kind);
    if (kind == 1) begin
      for (i = 0; i < NA; i++) begin
        rc = $fscanf(fi, "%d %d %d %d %d %d %d", f0, f1, f2, f3, f4, f5, f6);
        pc_v[i] <= f0[0]; pc_t[i] <= f1[ADW-1:0]; pc_j[i] <= f2[2:0]; pc_neg[i] <= f3[0];
        pc_dbl[i] <= f4[0]; pc_dst[i] <= f5[6:0]; pc_start[i] <= f6[0];
      end
    end else if (kind == 2) begin
      for (i = 0; i < U; i++) begin
        rc = $fscanf(fi, "%d %d %d %d %d %d %d %d", f0, f1, f2, f3, f4, f5, f6, f7);
        lk_first[i] <= f7[0];
        lk_v[i] <= f0[0]; lk_i[i] <= f1[2:0]; lk_sh[i] <= f2[3:0]; lk_neg[i] <= f3[0];
        lk_a[i] <= f4[7:0]; lk_b[i] <= f5[7:0]; lk_g[i] <= f6[7:0];
      end
    end
  endtask

  initial begin
    if (!$value$plusargs("in=%s", fin) || !$value$plusargs("out=%s", fout)) $fatal(1, "need +in= +out=");
    fi = $fopen(fin, "r");
    fo = $fopen(fout, "w");
    if (fi == 0 || fo == 0) $fatal(1, "cannot open files");
    rc = $fscanf(fi, "%d %d %d %d %d %d %d %d %d", nc, nxl, nwl, f0, f1, f2, f3, mm, nn);
    groups = f0[7:0]; npad = f1[15:0]; coef_sum = f2[15:0]; w_off = f3[0];
    busy = 0; c = 0; li = 0; oi = 0; stage = 0;
  end

  always @(posedge clk) begin
    if (active) busy <= busy + 1;
    if (stage == 0) begin
      rst <= 1'b0;
      stage <= 1;
    end else if (stage == 1) begin            // load activations and weights (not counted)
      ld_x <= 1'b0; ld_w <= 1'b0;
      if (li < nxl) begin
        rc = $fscanf(fi, "%d %d", f0, f1);
        ld_x <= 1'b1; ld_addr <= f0[ADW-1:0]; ld_data <= f1[15:0];
      end else if (li < nxl + nwl) begin
        rc = $fscanf(fi, "%d %h", f0, v);
        ld_w <= 1'b1; ld_addr <= f0[ADW-1:0]; ld_data <= v[15:0];
      end
      li <= li + 1;
      if (li >= nxl + nwl) begin
        ld_x <= 1'b0; ld_w <= 1'b0;
        stage <= 2;
      end
    end else if (stage == 2) begin
      if (c < nc) begin c <= c + 1; next_cycle(); end
      else begin pc_v <= '0; lk_v <= '0; stage <= 3; end
    end else if (stage == 3) begin            // drain the pipeline register
      if (!active) begin stage <= 4; rd_r <= '0; rd_c <= '0; end
    end else if (stage == 4) begin
      $fwrite(fo, "%0d\n", rd_data);
      oi = oi + 1;
      rd_r <= 8'(oi / nn); rd_c <= 8'(oi % nn);
      if (oi == mm * nn) begin
        $fwrite(fo, "cycles %0d\n", busy);
        $fclose(fo);
        $finish;
      end
    end
  end
endmodule
