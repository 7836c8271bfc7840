// Binary tensor core (BTC / ABQ-LLM style; lowbit RTL cross-check of
// hwsim/cyclesim/binary.py and hwsim/cores/binary_tensor_core.py).
//
// A W(x)A(y) GEMM runs as x*y one-bit GEMMs. Three phases, each a datapath of its own:
//  - pack: PW bit-transpose lanes; a lane takes 32 activation codes (AB bits each) and a
//    plane index and writes the 32-bit word of that bit plane into the activation word
//    memory; it also adds the plane's weighted popcount (+-2^sh) into the row sum xs[row].
//  - mma: U binary MMA units (`bmma_unit`), TM x TN lanes each; a unit takes one
//    TM x TN x TK one-bit tile and holds it TC cycles, TK/TC bits per cycle (AND-popcount,
//    or XNOR/XOR-popcount with lop = 1), then writes (first K tile) or adds its popcounts
//    into the partial-sum memory.
//  - epilogue: E shift-add lanes; a lane adds +-(partial << sh) into an output, or (offset
//    op, binary {-1,+1} operands stored as bits) w_off*xs[r] + a_off*ws[c] + koff.
// Weights are packed offline: they (and their column sums ws) arrive through the load port.
// Addresses come with the commands (the feeder's schedule); every value is the array's.
// `active` is high in every cycle a lane or unit works (the testbench counts those).

// (`bmma_unit` is in bmma_unit.sv.)

module binary_tc #(
    parameter TM = 2,
    parameter TN = 2,
    parameter TK = 32,      // multiple of 32
    parameter TC = 1,       // cycles per tile (TK % TC == 0)
    parameter U = 2,
    parameter PW = 2,
    parameter E = 4,
    parameter AB = 8,
    parameter NPA = 8,
    parameter NPW = 8,
    parameter MAXM = 32,
    parameter MAXN = 32,
    parameter MAXKW = 4,
    parameter ACCW = 32,
    parameter ADW = 18
) (
    input  logic                      clk,
    input  logic                      rst,
    input  logic                      lop,     // 0: AND-popcount, 1: XOR (XNOR) popcount
    input  logic [7:0]                kw,      // 32-bit words per padded K
    input  logic [15:0]               npad,    // padded N (partial / output row stride)
    input  logic                      a_off,   // activations binary {-1,+1}: offset -1
    input  logic                      w_off,
    input  logic signed [ACCW-1:0]    koff,    // K * a_off * w_off
    input  logic                      ld_w,
    input  logic [ADW-1:0]            ld_addr,
    input  logic [31:0]               ld_data,
    input  logic                      ld_ws,
    input  logic [7:0]                ld_col,
    input  logic signed [ACCW-1:0]    ld_wsum,
    input  logic [PW-1:0]             pk_v,
    input  logic [PW-1:0][2:0]        pk_plane,
    input  logic [PW-1:0][7:0]        pk_row,
    input  logic [PW-1:0][3:0]        pk_sh,
    input  logic [PW-1:0]             pk_neg,
    input  logic [PW-1:0]             pk_first,  // first word of this row: xs starts at 0
    input  logic [PW-1:0][ADW-1:0]    pk_dst,
    input  logic [PW-1:0][31:0][AB-1:0] pk_codes,
    input  logic [U-1:0]              mm_v,
    input  logic [U-1:0]              mm_first,
    input  logic [U-1:0][ADW-1:0]     mm_a,
    input  logic [U-1:0][ADW-1:0]     mm_w,
    input  logic [U-1:0][ADW-1:0]     mm_p,
    input  logic [E-1:0]              ep_v,
    input  logic [E-1:0]              ep_first,
    input  logic [E-1:0]              ep_off,
    input  logic [E-1:0][7:0]         ep_r,
    input  logic [E-1:0][7:0]         ep_c,
    input  logic [E-1:0][ADW-1:0]     ep_p,
    input  logic [E-1:0][ADW-1:0]     ep_o,
    input  logic [E-1:0][3:0]         ep_sh,
    input  logic [E-1:0]              ep_neg,
    input  logic [ADW-1:0]            rd_addr,
    output logic signed [ACCW-1:0]    rd_data,
    output logic                      active
);
  localparam TS = TK / TC;
  localparam KW = TK / 32;
  localparam PCW = $clog2(TK + 1) + 1;
  localparam L = U * TM * TN;

  logic [31:0] amem [NPA*MAXM*MAXKW];
  logic [31:0] wmem [NPW*MAXN*MAXKW];
  logic signed [ACCW-1:0] pmem [NPA*NPW*MAXM*MAXN];
  logic signed [ACCW-1:0] omem [MAXM*MAXN];
  logic signed [ACCW-1:0] xs [MAXM];
  logic signed [ACCW-1:0] ws [MAXN];

  assign rd_data = omem[rd_addr];

  // ---------------------------------------------------------------- pack (bit transpose)
  logic [PW-1:0][31:0] pk_word;
  logic signed [PW-1:0][ACCW-1:0] pk_inc;
  always_comb begin
    for (int l = 0; l < PW; l++) begin
      logic [7:0] cnt;
      cnt = '0;
      for (int j = 0; j < 32; j++) begin
        pk_word[l][j] = pk_codes[l][j][pk_plane[l]];
        cnt = cnt + {7'b0, pk_word[l][j]};
      end
      pk_inc[l] = pk_neg[l] ? -($signed({{(ACCW-8){1'b0}}, cnt}) <<< pk_sh[l])
                            : ($signed({{(ACCW-8){1'b0}}, cnt}) <<< pk_sh[l]);
    end
  end

  // ---------------------------------------------------------------- binary MMA units
  logic [U-1:0] busy;
  logic [U-1:0][7:0] cnt_q;
  logic [U-1:0][ADW-1:0] la, lw, lp;
  logic [U-1:0] lfirst;
  logic [U-1:0] u_en, u_last, u_first;
  logic [U-1:0][ADW-1:0] u_a, u_w, u_p;
  logic [U-1:0][7:0] u_slice;
  logic [U-1:0][TM-1:0][TS-1:0] u_abits;
  logic [U-1:0][TN-1:0][TS-1:0] u_wbits;
  logic [U-1:0][TM-1:0][TN-1:0][PCW-1:0] u_pc;
  always_comb begin
    for (int u = 0; u < U; u++) begin
      logic [TK-1:0] vec;
      u_en[u] = mm_v[u] | busy[u];
      u_a[u] = mm_v[u] ? mm_a[u] : la[u];
      u_w[u] = mm_v[u] ? mm_w[u] : lw[u];
      u_p[u] = mm_v[u] ? mm_p[u] : lp[u];
      u_first[u] = mm_v[u] ? mm_first[u] : lfirst[u];
      u_slice[u] = mm_v[u] ? 8'd0 : cnt_q[u];
      u_last[u] = u_en[u] && (u_slice[u] == 8'(TC - 1));
      for (int r = 0; r < TM; r++) begin
        for (int q = 0; q < KW; q++) vec[q*32 +: 32] = amem[u_a[u] + r * kw + q];
        u_abits[u][r] = vec[u_slice[u]*TS +: TS];
      end
      for (int c = 0; c < TN; c++) begin
        for (int q = 0; q < KW; q++) vec[q*32 +: 32] = wmem[u_w[u] + c * kw + q];
        u_wbits[u][c] = vec[u_slice[u]*TS +: TS];
      end
    end
  end
  genvar gu;
  generate
    for (gu = 0; gu < U; gu = gu + 1) begin : g_unit
      bmma_unit #(.TM(TM), .TN(TN), .TS(TS), .PCW(PCW)) unit (
          .clk(clk), .lop(lop), .en(u_en[gu]), .clr(u_slice[gu] == 8'd0), .a(u_abits[gu]), .w(u_wbits[gu]),
          .pc(u_pc[gu]));
    end
  endgenerate

  // lane l = (u, r, c): destination, value, first flag (for same-cycle merging)
  logic [L-1:0] ln_v, ln_first;
  logic [L-1:0][ADW-1:0] ln_dst;
  logic signed [L-1:0][ACCW-1:0] ln_val;
  always_comb begin
    for (int u = 0; u < U; u++)
      for (int r = 0; r < TM; r++)
        for (int c = 0; c < TN; c++) begin
          int l;
          l = (u * TM + r) * TN + c;
          ln_v[l] = u_last[u];
          ln_first[l] = u_first[u];
          ln_dst[l] = u_p[u] + ADW'(r) * npad + ADW'(c);
          ln_val[l] = $signed({{(ACCW-PCW){1'b0}}, u_pc[u][r][c]});
        end
  end

  // ---------------------------------------------------------------- epilogue lanes
  logic signed [E-1:0][ACCW-1:0] ep_val;
  always_comb begin
    for (int e = 0; e < E; e++) begin
      if (ep_off[e])
        ep_val[e] = (w_off ? -xs[ep_r[e]] : '0) + (a_off ? -ws[ep_c[e]] : '0) + koff;
      else
        ep_val[e] = ep_neg[e] ? -(pmem[ep_p[e]] <<< ep_sh[e]) : (pmem[ep_p[e]] <<< ep_sh[e]);
    end
  end

  assign active = (|pk_v) | (|mm_v) | (|busy) | (|ep_v);

  // ---------------------------------------------------------------- state
  // Lanes of one cycle that hit the same address are summed; the last of them writes.
  always_ff @(posedge clk) begin
    if (rst) begin
      busy <= '0;
      cnt_q <= '0;
    end else begin
      if (ld_w) wmem[ld_addr] <= ld_data;
      if (ld_ws) ws[ld_col] <= ld_wsum;
      for (int l = 0; l < PW; l++) if (pk_v[l]) begin
        logic signed [ACCW-1:0] tot;
        logic last, fresh;
        amem[pk_dst[l]] <= pk_word[l];
        tot = '0; last = 1'b1; fresh = 1'b0;
        for (int q = 0; q < PW; q++) if (pk_v[q] && pk_row[q] == pk_row[l]) begin
          tot = tot + pk_inc[q];
          fresh = fresh | pk_first[q];
          if (q > l) last = 1'b0;
        end
        if (last) xs[pk_row[l]] <= (fresh ? '0 : xs[pk_row[l]]) + tot;
      end
      for (int u = 0; u < U; u++) begin
        if (mm_v[u]) begin
          la[u] <= mm_a[u]; lw[u] <= mm_w[u]; lp[u] <= mm_p[u]; lfirst[u] <= mm_first[u];
          busy[u] <= (TC > 1); cnt_q[u] <= 8'd1;
        end else if (busy[u]) begin
          cnt_q[u] <= cnt_q[u] + 8'd1;
          if (cnt_q[u] == 8'(TC - 1)) busy[u] <= 1'b0;
        end
      end
      for (int l = 0; l < L; l++) if (ln_v[l]) begin
        logic signed [ACCW-1:0] tot;
        logic last, fresh;
        tot = '0; last = 1'b1; fresh = 1'b0;
        for (int q = 0; q < L; q++) if (ln_v[q] && ln_dst[q] == ln_dst[l]) begin
          tot = tot + ln_val[q];
          fresh = fresh | ln_first[q];
          if (q > l) last = 1'b0;
        end
        if (last) pmem[ln_dst[l]] <= (fresh ? '0 : pmem[ln_dst[l]]) + tot;
      end
      for (int e = 0; e < E; e++) if (ep_v[e]) begin
        logic signed [ACCW-1:0] tot;
        logic last, fresh;
        tot = '0; last = 1'b1; fresh = 1'b0;
        for (int q = 0; q < E; q++) if (ep_v[q] && ep_o[q] == ep_o[e]) begin
          tot = tot + ep_val[q];
          fresh = fresh | ep_first[q];
          if (q > e) last = 1'b0;
        end
        if (last) omem[ep_o[e]] <= (fresh ? '0 : omem[ep_o[e]]) + tot;
      end
    end
  end
endmodule
