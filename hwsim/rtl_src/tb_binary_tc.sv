// Testbench (not synthesised): loads the offline-packed weight words and column sums from
// +in=FILE into binary_tc, plays the command stream (one line per cycle), counts the cycles
// in which the core is active, then writes the outputs and "cycles N" to +out=FILE.
// Input: "ncyc nwl nws kw npad aoff woff koff nout lop"; nwl lines "addr word(hex)"; nws lines
// "col wsum"; ncyc lines "kind ...": 0 idle; 1 pack: PW x (v plane row sh neg dst first, 32 codes
// hex); 2 mma: U x (v first a w p); 3 epilogue: E x (v first off r c p o sh neg).
module tb;
  parameter TM = 2, TN = 2, TK = 32, TC = 1, U = 2, PW = 2, E = 4, AB = 8;
  parameter NPA = 8, NPW = 8, MAXM = 32, MAXN = 32, MAXKW = 4, ACCW = 32, ADW = 18;
  logic clk = 1'b0;
  always #1 clk = ~clk;
  logic rst = 1'b1;
  logic lop = 1'b0;
  logic [7:0] kw = '0;
  logic [15:0] npad = '0;
  logic a_off = 1'b0, w_off = 1'b0;
  logic signed [ACCW-1:0] koff = '0;
  logic ld_w = 1'b0, ld_ws = 1'b0;
  logic [ADW-1:0] ld_addr = '0;
  logic [31:0] ld_data = '0;
  logic [7:0] ld_col = '0;
  logic signed [ACCW-1:0] ld_wsum = '0;
  logic [PW-1:0] pk_v = '0, pk_neg = '0, pk_first = '0;
  logic [PW-1:0][2:0] pk_plane = '0;
  logic [PW-1:0][7:0] pk_row = '0;
  logic [PW-1:0][3:0] pk_sh = '0;
  logic [PW-1:0][ADW-1:0] pk_dst = '0;
  logic [PW-1:0][31:0][AB-1:0] pk_codes = '0;
  logic [U-1:0] mm_v = '0, mm_first = '0;
  logic [U-1:0][ADW-1:0] mm_a = '0, mm_w = '0, mm_p = '0;
  logic [E-1:0] ep_v = '0, ep_first = '0, ep_off = '0, ep_neg = '0;
  logic [E-1:0][7:0] ep_r = '0, ep_c = '0;
  logic [E-1:0][ADW-1:0] ep_p = '0, ep_o = '0;
  logic [E-1:0][3:0] ep_sh = '0;
  logic [ADW-1:0] rd_addr = '0;
  logic signed [ACCW-1:0] rd_data;
  logic active;
  binary_tc #(.TM(TM), .TN(TN), .TK(TK), .TC(TC), .U(U), .PW(PW), .E(E), .AB(AB),
              .NPA(NPA), .NPW(NPW), .MAXM(MAXM), .MAXN(MAXN), .MAXKW(MAXKW), .ACCW(ACCW),
              .ADW(ADW)) dut (.*);

  integer fi, fo, rc, stage, nc, nwl, nws, nout, c, li, oi, busy, kind, i, j;
  integer f0, f1, f2, f3, f4, f5, f6, f7, f8, ik, ia, iw, ko;
  logic [63:0] v;
  string fin, fout;

  task automatic next_cycle();
    pk_v <= '0; mm_v <= '0; ep_v <= '0;
    rc = $fscanf(fi, "%d", kind);
    if (kind == 1) begin
      for (i = 0; i < PW; i++) begin
        rc = $fscanf(fi, "%d %d %d %d %d %d %d", f0, f1, f2, f3, f4, f5, f6);
        pk_first[i] <= f6[0];
        pk_v[i] <= f0[0]; pk_plane[i] <= f1[2:0]; pk_row[i] <= f2[7:0]; pk_sh[i] <= f3[3:0];
        pk_neg[i] <= f4[0]; pk_dst[i] <= f5[ADW-1:0];
        for (j = 0; j < 32; j++) begin
          rc = $fscanf(fi, "%h", v);
          pk_codes[i][j] <= v[AB-1:0];
        end
      end
    end else if (kind == 2) begin
      for (i = 0; i < U; i++) begin
        rc = $fscanf(fi, "%d %d %d %d %d", f0, f1, f2, f3, f4);
        mm_v[i] <= f0[0]; mm_first[i] <= f1[0]; mm_a[i] <= f2[ADW-1:0]; mm_w[i] <= f3[ADW-1:0];
        mm_p[i] <= f4[ADW-1:0];
      end
    end else if (kind == 3) begin
      for (i = 0; i < E; i++) begin
        rc = $fscanf(fi, "%d %d %d %d %d %d %d %d %d", f0, f1, f2, f3, f4, f5, f6, f7, f8);
        ep_v[i] <= f0[0]; ep_first[i] <= f1[0]; ep_off[i] <= f2[0]; ep_r[i] <= f3[7:0];
        ep_c[i] <= f4[7:0]; ep_p[i] <= f5[ADW-1:0]; ep_o[i] <= f6[ADW-1:0]; ep_sh[i] <= f7[3:0];
        ep_neg[i] <= f8[0];
      end
    end
  endtask

  initial begin
    if (!$value$plusargs("in=%s", fin) || !$value$plusargs("out=%s", fout)) $fatal(1, "need +in= +out=");
    fi = $fopen(fin, "r");
    fo = $fopen(fout, "w");
    if (fi == 0 || fo == 0) $fatal(1, "cannot open files");
    rc = $fscanf(fi, "%d %d %d %d %d %d %d %d %d %d", nc, nwl, nws, ik, iw, ia, ko, f0, nout, f1);
    lop = f1[0];
    kw = ik[7:0]; npad = iw[15:0]; a_off = ia[0]; w_off = ko[0]; koff = f0;
    busy = 0; c = 0; li = 0; oi = 0; stage = 0;
  end

  always @(posedge clk) begin
    if (active) busy <= busy + 1;
    if (stage == 0) begin
      rst <= 1'b0;
      stage <= 1;
    end else if (stage == 1) begin            // load weights and column sums (not counted)
      ld_w <= 1'b0; ld_ws <= 1'b0;
      if (li < nwl) begin
        rc = $fscanf(fi, "%d %h", f0, v);
        ld_w <= 1'b1; ld_addr <= f0[ADW-1:0]; ld_data <= v[31:0];
      end else if (li < nwl + nws) begin
        rc = $fscanf(fi, "%d %d", f0, f1);
        ld_ws <= 1'b1; ld_col <= f0[7:0]; ld_wsum <= f1;
      end
      li <= li + 1;
      if (li >= nwl + nws) begin
        ld_w <= 1'b0; ld_ws <= 1'b0;
        stage <= 2;
      end
    end else if (stage == 2) begin
      if (c < nc) begin c <= c + 1; next_cycle(); end
      else begin pk_v <= '0; mm_v <= '0; ep_v <= '0; stage <= 3; end
    end else if (stage == 3) begin            // drain: wait until nothing is active
      if (!active) begin stage <= 4; rd_addr <= '0; end
    end else if (stage == 4) begin
      $fwrite(fo, "%0d\n", rd_data);
      oi = oi + 1;
      rd_addr <= ADW'(oi);
      if (oi == nout) begin
        $fwrite(fo, "cycles %0d\n", busy);
        $fclose(fo);
        $finish;
      end
    end
  end
endmodule
