// LUT Tensor Core tile (Mo et al., ISCA 2025 style; lowbit RTL cross-check of
// hwsim/cyclesim/lut.py and hwsim/cores/lut_tensor_core.py).
//
//  - table precompute: NA adders, one add per cycle each. An adder owns one table (one
//    activation row x one group of TK activations) at a time: the first stored entry
//    x_{K-1} - sum_{j<K-1} x_j in K-1 adds (`start` takes x_{K-1} as the base), then the
//    other 2^(K-1) - 1 entries in Gray-code order, each the previous one +-2x_j. Only the
//    half with the top pattern bit +1 is stored (table symmetrisation), TB bits an entry.
//  - lookups: U LUT units (`lut_unit`), TM x TN lanes each. A unit takes one tile operation
//    (weight bit plane i, M tile, N tile, K group) per cycle: each lane picks bit i of the
//    TK weight codes of its column (bit-serial weight planes) as the table index, reads the
//    stored entry (index top bit 0: the mirrored entry, negated), registers it (one pipeline
//    stage, PD = 1), and the next cycle shift-adds it (+-2^sh, the plane's coefficient) into
//    the lane's accumulator.
//  - read-out: out = (acc + coef_sum * rowsum) / 2 + w_off * rowsum, rowsum the sum of the
//    row's all-ones entries (the offset correction; no cycles, as the model).
// `active` is high in every cycle an adder, a unit or the pipeline register works.

// (`lut_unit` is in lut_unit.sv.)

module lut_tc #(
    parameter TM = 2,
    parameter TN = 4,
    parameter TK = 4,       // 2..8
    parameter U = 2,
    parameter NA = 2,
    parameter XB = 9,       // activation code bits (signed; uint8 needs 9)
    parameter TB = 16,      // table entry bits
    parameter WB = 8,       // weight code bits (plane i = bit i)
    parameter MAXM = 32,
    parameter MAXG = 8,
    parameter MAXN = 32,
    parameter ACCW = 32,
    parameter ADW = 16
) (
    input  logic                    clk,
    input  logic                    rst,
    input  logic [7:0]              groups,
    input  logic [15:0]             npad,
    input  logic signed [15:0]      coef_sum,
    input  logic                    w_off,
    input  logic                    ld_x,
    input  logic                    ld_w,
    input  logic [ADW-1:0]          ld_addr,
    input  logic [15:0]             ld_data,
    input  logic [NA-1:0]           pc_v,
    input  logic [NA-1:0][ADW-1:0]  pc_t,      // table id = row * groups + group
    input  logic [NA-1:0][2:0]      pc_j,
    input  logic [NA-1:0]           pc_neg,
    input  logic [NA-1:0]           pc_dbl,    // +-2x_j (Gray step) rather than +-x_j
    input  logic [NA-1:0][6:0]      pc_dst,
    input  logic [NA-1:0]           pc_start,
    input  logic [U-1:0]            lk_v,
    input  logic [U-1:0][2:0]       lk_i,
    input  logic [U-1:0][3:0]       lk_sh,
    input  logic [U-1:0]            lk_neg,
    input  logic [U-1:0]            lk_first,  // first add into these accumulators
    input  logic [U-1:0][7:0]       lk_a,
    input  logic [U-1:0][7:0]       lk_b,
    input  logic [U-1:0][7:0]       lk_g,
    input  logic [7:0]              rd_r,
    input  logic [7:0]              rd_c,
    output logic signed [ACCW-1:0]  rd_data,
    output logic                    active
);
  localparam H = 1 << (TK - 1);
  localparam L = U * TM * TN;

  logic signed [XB-1:0] xmem [MAXM*MAXG*TK];
  logic [WB-1:0] wmem [MAXG*TK*MAXN];
  logic [H-1:0][TB-1:0] tmem [MAXM*MAXG];
  logic signed [ACCW-1:0] acc [MAXM*MAXN];
  logic signed [NA-1:0][TB-1:0] run;

  // ---------------------------------------------------------------- precompute adders
  logic signed [NA-1:0][TB-1:0] pc_val;
  always_comb begin
    for (int p = 0; p < NA; p++) begin
      logic signed [TB-1:0] base, xj;
      base = pc_start[p] ? TB'(xmem[pc_t[p] * TK + TK - 1]) : run[p];
      xj = TB'(xmem[pc_t[p] * TK + pc_j[p]]);
      if (pc_dbl[p]) xj = xj <<< 1;
      pc_val[p] = pc_neg[p] ? base - xj : base + xj;
    end
  end

  // ---------------------------------------------------------------- lookup units
  logic [U-1:0][TM-1:0][H-1:0][TB-1:0] u_tab;
  logic [U-1:0][TN-1:0][TK-1:0] u_idx;
  logic signed [U-1:0][TM-1:0][TN-1:0][TB-1:0] u_val;
  always_comb begin
    for (int u = 0; u < U; u++) begin
      for (int r = 0; r < TM; r++) u_tab[u][r] = tmem[(lk_a[u] * TM + r) * groups + lk_g[u]];
      for (int c = 0; c < TN; c++)
        for (int q = 0; q < TK; q++)
          u_idx[u][c][q] = wmem[(lk_g[u] * TK + q) * npad + lk_b[u] * TN + c][lk_i[u]];
    end
  end
  genvar gu;
  generate
    for (gu = 0; gu < U; gu = gu + 1) begin : g_unit
      lut_unit #(.TM(TM), .TN(TN), .TK(TK), .TB(TB)) unit (
          .clk(clk), .tables(u_tab[gu]), .idx(u_idx[gu]), .val_q(u_val[gu]));
    end
  endgenerate
  // pipeline register: what each unit looked up last cycle goes to the accumulators now
  logic [U-1:0] q_v, q_neg, q_first;
  logic [U-1:0][3:0] q_sh;
  logic [U-1:0][7:0] q_a, q_b;
  logic [L-1:0] ln_v, ln_first;
  logic [L-1:0][ADW-1:0] ln_dst;
  logic signed [L-1:0][ACCW-1:0] ln_val;
  always_comb begin
    for (int u = 0; u < U; u++)
      for (int r = 0; r < TM; r++)
        for (int c = 0; c < TN; c++) begin
          int l;
          logic signed [ACCW-1:0] v;
          l = (u * TM + r) * TN + c;
          v = ACCW'($signed(u_val[u][r][c])) <<< q_sh[u];
          ln_v[l] = q_v[u];
          ln_first[l] = q_first[u];
          ln_dst[l] = ADW'((q_a[u] * TM + r) * npad + q_b[u] * TN + c);
          ln_val[l] = q_neg[u] ? -v : v;
        end
  end

  // ---------------------------------------------------------------- read-out
  always_comb begin
    logic signed [ACCW-1:0] rowsum;
    rowsum = '0;
    for (int g = 0; g < MAXG; g++)
      if (g < groups) rowsum = rowsum + ACCW'($signed(tmem[rd_r * groups + g][H-1]));
    rd_data = ((acc[rd_r * npad + rd_c] + coef_sum * rowsum) >>> 1) - (w_off ? rowsum : ACCW'(0));
  end

  assign active = (|pc_v) | (|lk_v) | (|q_v);

  always_ff @(posedge clk) begin
    if (rst) begin
      q_v <= '0;
    end else begin
      if (ld_x) xmem[ld_addr] <= $signed(ld_data[XB-1:0]);
      if (ld_w) wmem[ld_addr] <= ld_data[WB-1:0];
      for (int p = 0; p < NA; p++) if (pc_v[p]) begin
        run[p] <= pc_val[p];
        tmem[pc_t[p]][pc_dst[p]] <= pc_val[p];
      end
      q_v <= lk_v; q_neg <= lk_neg; q_first <= lk_first; q_sh <= lk_sh; q_a <= lk_a; q_b <= lk_b;
      for (int l = 0; l < L; l++) if (ln_v[l]) begin
        logic signed [ACCW-1:0] tot;
        logic last, fresh;
        tot = '0; last = 1'b1; fresh = 1'b0;
        for (int q = 0; q < L; q++) if (ln_v[q] && ln_dst[q] == ln_dst[l]) begin
          tot = tot + ln_val[q];
          fresh = fresh | ln_first[q];
          if (q > l) last = 1'b0;
        end
        if (last) acc[ln_dst[l]] <= (fresh ? '0 : acc[ln_dst[l]]) + tot;
      end
    end
  end
endmodule
