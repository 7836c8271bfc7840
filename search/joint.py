"""Joint per-layer choices: (weight format, activation format) for layers with weights and
(activation format, KV format) for attention MATMULs, priced by hwsim, solved exactly.

Choice labels (one shared axis; each layer may take only the choices of its kind, through
the table's ``allowed`` mask):

- a layer with weights: ``"W/A"`` (weight format W, input activations in A), as
  `costs.choice_label`;
- an attention MATMUL (Q.K^T, P.V): ``"kv:KV/A"``: its first operand (queries, scores) in A,
  its second (the cached K or V) in KV. `parse_choice` reads both.

The hardware runs each pair natively or by widening; `JointTable.ran_as` keeps hwsim's
``LayerCost.ran_as`` per (layer, choice) ("" = native), and `ran_as_of` gives it for an
allocation.

Rows (`table_rows`): one per layer with weights, and with KV formats one per attention
MATMUL. A layer reusing a row's weights (`Layer.tied_to`: a tied lm_head, the projections of
every decode step of phase ``generate``) runs in that row's choice and adds its cycles,
energy and BOPs to it, as `CostTable.from_priced` does. In phase ``generate`` the same
attention MATMUL of every decode step (``decode<g>.X``) reads the one cache that the prefill's
``prefill.X`` started: it folds into that row too, so the cache has one (A, KV) choice.

Metrics: ``latency`` (cycles), ``energy`` (J), ``memory`` (weight bytes), ``kv_memory``
(bytes of the K/V a MATMUL row reads at the KV format: its largest `Layer.weight_elems`
over the folded steps x bits/8, i.e. the K or V cache at the workload's final context x
batch, capped at a sliding window; for a decoder in prefill, decode or generate a uniform KV
choice sums to `Workload.kv_cache_bytes` at that format. A workload without a KV cache (an
encoder) counts each MATMUL's K/V operand), ``total_memory`` (= memory + kv_memory) and
``bops`` (MACs x bits of the two operands). Any combination may be budgeted (`ilp.solve` /
`solve_joint`).

Ties: q/k/v of a block keep one choice (`CostTable.ties`). Activation ties
(``act_ties``) are a weaker constraint: the members share the activation format but may
differ in weight format, e.g. every layer reading the residual stream
(`residual_act_ties`). `solve_joint` adds them as linking rows to the exact ILP:
for each tied pair (i, j) and each activation format a,
``sum_{c: act(c)=a} x[i, c] = sum_{c: act(c)=a} x[j, c]``; without activation ties it is
`ilp.solve` itself (same model, same presolve).

Quality: `compose_sensitivity` fills the table's sensitivity from measured parts
(`search.pair_terms`): the jointly measured value of a layer's choices where present, else
the additive model ``s(W) + s(A)`` (weights alone + input activations alone), and
``s_act(A) + s_kv(KV)`` for a MATMUL. Which form each layer got is recorded.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pulp
from lowbit.kernels_ref.errors import InfeasibleBudgetError, InvalidSpecError, LowbitError
from lowbit.search.costs import SENSITIVITY, CostTable, choice_label, weight_bytes
from lowbit.search.ilp_core import solution_status

__all__ = [
    "RESIDUAL_READERS",
    "Choice",
    "JointTable",
    "build_joint",
    "compose_sensitivity",
    "matmul_label",
    "parse_choice",
    "residual_act_ties",
    "solve_joint",
    "table_rows",
    "with_quality_terms",
]

#: Layer-name suffixes that read a transformer block's (normalised) residual stream.
RESIDUAL_READERS = ("q_proj", "k_proj", "v_proj", "fc1", "gate_proj", "up_proj")


@dataclass(frozen=True)
class Choice:
    """A parsed choice label: weight format (None for a MATMUL), activation, KV (None for a
    layer with weights)."""

    weight: str | None
    act: str | None
    kv: str | None


def matmul_label(act: str, kv: str) -> str:
    """Label of an attention MATMUL's choice: ``kv:KV/A``."""
    return f"kv:{kv}/{act}"


def parse_choice(label: str) -> Choice:
    """``"int4"`` -> weight only; ``"int4/int8"`` -> (weight, act); ``"kv:int4/int8"`` -> (kv, act)."""
    head, sep, act = str(label).partition("/")
    if head.startswith("kv:"):
        if not sep:
            raise InvalidSpecError(f"choice {label!r}: a KV choice needs its activation format (kv:KV/A)")
        return Choice(None, act, head[3:])
    return Choice(head, act if sep else None, None)


def _fmt(f: Any) -> Any:
    from lowbit.kernels_ref.formats import Format

    return f if isinstance(f, Format) else Format.parse(str(f))


@dataclass(frozen=True, eq=False)
class JointTable:
    """A CostTable over joint choices plus what the plain table does not carry."""

    table: CostTable
    act_formats: tuple[str, ...]
    act_of: np.ndarray                      # [C] index into act_formats of each choice's activation
    ran_as: tuple[tuple[str, ...], ...]     # [layer][choice] hwsim's ran_as ("" native or not allowed)
    kinds: tuple[str, ...]                  # per layer: "weight" or "matmul"
    act_ties: tuple[tuple[int, ...], ...] = ()
    quality_source: Mapping[str, str] = field(default_factory=dict)  # layer -> "joint"/"additive"

    def ran_as_of(self, assignment: Sequence[int]) -> dict[str, str]:
        return {n: self.ran_as[i][int(c)] for i, (n, c) in enumerate(zip(self.table.layers, assignment))}

    def with_act_ties(self, groups: Sequence[Sequence[int | str]]) -> JointTable:
        idx = tuple(tuple(self.table.layer_index(x, "act_ties") for x in g) for g in groups)
        return replace(self, act_ties=tuple(g for g in idx if len(g) > 1))


def residual_act_ties(layers: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """One group of every layer reading the residual stream (`RESIDUAL_READERS` suffixes):
    the stream is stored once, so its readers share one activation format."""
    g = tuple(n for n in layers if n.rsplit(".", 1)[-1] in RESIDUAL_READERS)
    return (g,) if len(g) > 1 else ()


_DECODE_STEP = re.compile(r"decode\d+\.(.+)")


def table_rows(workload: Any, matmuls: bool = False) -> list[tuple[Any, tuple[Any, ...]]]:
    """(row layer, every workload layer it stands for, itself first) in workload order: the
    layers with weights, plus the attention MATMULs when `matmuls` (module docstring: the
    layers reusing a row's weights, and in phase generate each decode step's copy of a
    MATMUL, fold into the row)."""
    from lowbit.models.ir import OpKind, Phase

    gen = workload.phase is Phase.GENERATE
    rows = [ly for ly in workload.layers if ly.weight_params > 0 or (
        matmuls and ly.op is OpKind.MATMUL and not (gen and _DECODE_STEP.fullmatch(ly.name)))]
    members: dict[str, list[Any]] = {ly.name: [ly] for ly in rows}
    for ly in workload.layers:
        if ly.name in members:
            continue
        if ly.weight_params == 0 and ly.has_weights and ly.tied_to in members:
            members[ly.tied_to].append(ly)
        elif matmuls and gen and ly.op is OpKind.MATMUL:
            m = _DECODE_STEP.fullmatch(ly.name)
            owner = f"prefill.{m.group(1)}" if m else None
            if owner not in members:
                raise InvalidSpecError(f"workload {workload.name!r}: decode-step attention {ly.name!r} has "
                                       f"no prefill row {owner!r} whose KV cache it reads")
            members[owner].append(ly)
    return [(ly, tuple(members[ly.name])) for ly in rows]


def build_joint(workload: Any, accel: Any, weight_formats: Sequence[Any], act_formats: Sequence[Any],
                kv_formats: Sequence[Any] | None = None, *, ties: Sequence[Sequence[int | str]] | None = None,
                act_ties: Sequence[Sequence[int | str]] = (), residual_ties: bool = False) -> JointTable:
    """Price every row's joint choices with `hwsim.evaluate` (sensitivity zero; fill it with
    `compose_sensitivity`). With `kv_formats` the workload's attention MATMULs are in the
    table too, choosing (activation, KV); without, only layers with weights. Rows and what
    folds into them: `table_rows`. `ties` default: q/k/v of each block
    (`<block>.q_proj/k_proj/v_proj`)."""
    from lowbit import hwsim

    if not weight_formats or not act_formats:
        raise InvalidSpecError("joint choices need at least one weight and one activation format")
    wf = [_fmt(f) for f in weight_formats]
    af = [_fmt(f) for f in act_formats]
    kf = [_fmt(f) for f in kv_formats] if kv_formats else []
    rows = table_rows(workload, matmuls=bool(kf))
    if not any(ly.weight_params > 0 for ly, _ in rows):
        raise InvalidSpecError(f"workload {workload.name!r}: no layers with weights to allocate")
    wpairs = [(w, a) for w in wf for a in af]
    kpairs = [(k, a) for a in af for k in kf]
    labels = [choice_label(str(w), str(a)) for w, a in wpairs] + [matmul_label(str(a), str(k)) for k, a in kpairs]
    act_names = tuple(str(a) for a in af)
    act_of = np.array([act_names.index(str(a)) for _, a in wpairs] + [act_names.index(str(a)) for _, a in kpairs])
    L, C, nw = len(rows), len(labels), len(wpairs)
    z = {n: np.zeros((L, C)) for n in ("latency", "energy", "memory", "kv_memory", "bops")}
    allowed = np.zeros((L, C), dtype=bool)
    ran: list[list[str]] = []
    kinds = []
    for i, (ly, members) in enumerate(rows):
        row = [""] * C
        mm = ly.weight_params == 0  # an attention MATMUL (rows with weights own them)
        kinds.append("matmul" if mm else "weight")
        macs = float(sum(m.macs for m in members))
        for c in (range(nw, C) if mm else range(nw)):
            first, a = (kpairs[c - nw] if mm else wpairs[c])
            kv = {"kv_fmt": first} if mm else {}
            costs = [hwsim.evaluate(m, first, accel, act_fmt=a, **kv) for m in members]
            z["latency"][i, c] = float(sum(cost.cycles for cost in costs))
            z["energy"][i, c] = float(sum(cost.total_energy_j for cost in costs))
            if mm:  # the cache at its largest context (the last decode step)
                z["kv_memory"][i, c] = float(max(m.weight_elems for m in members)) * first.bits_per_weight / 8.0
            else:
                z["memory"][i, c] = weight_bytes(ly, first)
            z["bops"][i, c] = macs * first.bits * a.bits
            row[c] = costs[0].ran_as
            allowed[i, c] = True
        ran.append(row)
    z["total_memory"] = z["memory"] + z["kv_memory"]
    names = tuple(ly.name for ly, _ in rows)
    if ties is None:
        by = {n: i for i, n in enumerate(names)}
        groups: list[tuple[int, ...]] = []
        for n in names:
            if n.endswith(".q_proj"):
                b = n[: -len("q_proj")]
                g = tuple(by[b + s] for s in ("q_proj", "k_proj", "v_proj") if b + s in by)
                if len(g) > 1:
                    groups.append(g)
        tie_idx: tuple[tuple[int, ...], ...] = tuple(groups)
    else:
        tie_idx = tuple(tuple(names.index(x) if isinstance(x, str) else int(x) for x in g) for g in ties)
    table = CostTable(layers=names, choices=tuple(labels), sensitivity=np.zeros((L, C)), costs=z,
                      ties=tie_idx, allowed=allowed, model=str(workload.name), hardware=str(accel.name),
                      source=f"hwsim:{accel.name} joint")
    jt = JointTable(table, act_names, act_of, tuple(tuple(r) for r in ran), tuple(kinds))
    groups_a = [*act_ties, *(residual_act_ties(names) if residual_ties else ())]
    return jt.with_act_ties(groups_a) if groups_a else jt


def _value(tab: Any, layer: str, fmt: str, what: str) -> float:
    """tab: a SensitivityTable-like (layers, formats, values) or a mapping (layer, fmt) -> v."""
    if isinstance(tab, Mapping):
        if (layer, fmt) in tab:
            return float(tab[(layer, fmt)])
    else:
        if layer in tab.layers and fmt in tab.formats:
            return float(tab.values[tab.layers.index(layer), tab.formats.index(fmt)])
    raise InvalidSpecError(f"{what} sensitivity: no value for layer {layer!r}, format {fmt!r}")


def compose_sensitivity(jt: JointTable, *, weight: Any = None, act: Any = None, kv: Any = None,
                        pairs: Mapping[tuple[str, str], float] | None = None,
                        layer_names: Mapping[str, str] | None = None) -> JointTable:
    """Fill the sensitivity: per layer, the jointly measured value ``pairs[(layer, label)]``
    (``"W/A"``, or ``"kv:KV/A"`` for a MATMUL) when every choice of the layer has one, else
    ``weight[layer, W] + act[layer, A]`` (additivity assumed), per MATMUL
    ``act[layer, A] + kv[layer, KV]``. `layer_names` maps the
    table's layer names to the names the tables use (zoo -> module names). A missing value is
    an InvalidSpecError, never a zero; layers not allowed a choice get 0 there (unused)."""
    t = jt.table
    sens = np.zeros((t.num_layers, t.num_choices))
    src: dict[str, str] = {}
    for i, n in enumerate(t.layers):
        key = (layer_names or {}).get(n, n)
        cols = np.flatnonzero(t.allowed[i])
        labs = [t.choices[c] for c in cols]
        if pairs is not None and all((key, lab) in pairs for lab in labs):
            sens[i, cols] = [pairs[(key, lab)] for lab in labs]
            src[n] = "joint"
            continue
        for c, lab in zip(cols, labs):
            ch = parse_choice(lab)
            first = (_value(weight, key, str(ch.weight), "weight") if ch.weight is not None
                     else _value(kv, key, str(ch.kv), "KV"))
            sens[i, c] = first + _value(act, key, str(ch.act), "activation")
        src[n] = "additive"
    return replace(jt, table=t.with_sensitivity(sens), quality_source=src)


def with_quality_terms(jt: JointTable, terms: Mapping[str, np.ndarray]) -> tuple[JointTable, dict[str, float]]:
    """Add quality metrics (MixDQ's content / quality terms, KL and task loss, ...) as named
    costs [layer, choice], so one can be minimised under budgets on the others. Costs may not
    be negative and a loss delta can be; a row with a negative entry is shifted up by its
    least allowed value, which changes no argmin: a bound B on the raw total is the bound
    ``B - offset[name]`` on the stored one (the offsets are returned)."""
    t = jt.table
    out: dict[str, np.ndarray] = {}
    offsets: dict[str, float] = {}
    for name, arr in terms.items():
        a = np.where(t.allowed, np.asarray(arr, dtype=np.float64), 0.0)
        lo = np.where(t.allowed, a, np.inf).min(axis=1)
        shift = np.where(lo < 0, -lo, 0.0)
        out[name] = np.where(t.allowed, a + shift[:, None], 0.0)
        offsets[name] = -float(shift.sum())
    return replace(jt, table=t.with_costs(**out)), offsets


def _link_rows(jt: JointTable, gid: np.ndarray) -> list[tuple[int, int]]:
    """Pairs of tie-group ids that must share an activation format."""
    out = []
    for g in jt.act_ties:
        gs = list(dict.fromkeys(int(gid[i]) for i in g))
        out += [(gs[0], h) for h in gs[1:]]
    return out


def solve_joint(jt: JointTable, budgets: Mapping[str, float | str] | None = None, *,
                objective: str = SENSITIVITY, time_limit_s: float | None = None,
                solver: str | None = None) -> Any:
    """Exact allocation over a joint table. Without activation ties this is `ilp.solve`;
    with them the same multiple-choice model plus the linking rows in the module docstring
    (no dominance presolve: a choice dominated in its own row may be needed to match a
    tied layer's activation format). Status "optimal" only when the solver proved it."""
    from lowbit.search import ilp

    table = jt.table
    if not jt.act_ties:
        return ilp.solve(table, budgets, objective=objective, time_limit_s=time_limit_s, solver=solver)
    t0 = time.perf_counter()
    raw = dict(table.budgets) if budgets is None else dict(budgets)
    bud = {table.key(n): table.resolve_budget(n, v) for n, v in raw.items()}  # latency -> latency_s
    objective = table.key(objective)
    table.metric(objective)
    names = list(dict.fromkeys([objective, *bud]))
    gid, grouped, allowed = table.grouped(names)
    G = allowed.shape[0]
    mins = {n: float(np.where(allowed, grouped[n], np.inf).min(axis=1).sum()) for n in bud}
    if any(b < mins[n] - 1e-9 * max(abs(b), abs(mins[n]), 1e-300) for n, b in bud.items()):
        raise InfeasibleBudgetError(ilp.format_budget_error(bud, mins, jointly=False), minimums=mins)
    sname = solver or ilp.solver_name()
    gi, ci = np.nonzero(allowed)
    nvar = gi.size
    prob = pulp.LpProblem("joint", pulp.LpMinimize)
    xs = [prob.add_variable(f"x{k}", 0, 1, pulp.LpBinary) for k in range(nvar)]

    def scaled(n: str) -> tuple[np.ndarray, float, np.ndarray]:
        base = np.where(allowed, grouped[n], np.inf).min(axis=1)
        coef = (grouped[n] - base[:, None])[gi, ci]
        s = float(np.abs(coef).max()) if nvar else 0.0
        return coef, (s if s > 0 else 1.0), base

    oc, os_, _ = scaled(objective)
    prob.setObjective(pulp.LpAffineExpression([(xs[k], float(v)) for k, v in enumerate(oc / os_) if v]))
    for g in range(G):
        prob.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression(
            [(xs[k], 1.0) for k in np.flatnonzero(gi == g)]), sense=pulp.LpConstraintEQ, rhs=1.0), name=f"g{g}")
    for n, b in bud.items():
        coef, s, _ = scaled(n)
        nz = np.flatnonzero(coef)
        if nz.size:
            prob.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression(
                [(xs[k], float(coef[k] / s)) for k in nz]), sense=pulp.LpConstraintLE,
                rhs=max((b - mins[n]) / s, 0.0)), name=f"b_{n}")
    for r, (g, h) in enumerate(_link_rows(jt, gid)):
        for a in range(len(jt.act_formats)):
            terms = [(xs[k], 1.0) for k in np.flatnonzero((gi == g) & (jt.act_of[ci] == a))]
            terms += [(xs[k], -1.0) for k in np.flatnonzero((gi == h) & (jt.act_of[ci] == a))]
            if terms:
                prob.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression(terms),
                                                     sense=pulp.LpConstraintEQ, rhs=0.0), name=f"a{r}_{a}")
    with ilp._quiet_stdout():
        prob.solve(ilp._make_solver(sname, time_limit_s))
    status = solution_status(prob)
    if status == "infeasible":
        raise InfeasibleBudgetError("with the activation ties: " + ilp.format_budget_error(bud, mins, jointly=True),
                                    minimums=mins)
    if status is None:
        raise LowbitError(f"solver {sname} found no joint allocation (status "
                          f"{pulp.LpStatus.get(prob.status, prob.status)})")
    vals = np.fromiter((v.varValue or 0.0 for v in xs), dtype=np.float64, count=nvar)
    pick = vals > 0.5
    chosen = np.full(G, -1, dtype=np.int64)
    chosen[gi[pick]] = ci[pick]
    if (chosen < 0).any() or np.bincount(gi[pick], minlength=G).max() != 1:
        raise LowbitError(f"solver {sname} returned a solution that is not one-hot")
    asg = chosen[gid]
    totals = table.totals(asg)
    for n, b in bud.items():
        if totals[n] > b + 1e-6 * max(abs(b), 1e-300):
            raise LowbitError(f"solver {sname} returned an allocation over the {n} budget")
    return ilp.Allocation(layers=table.layers, choices=tuple(table.choices[c] for c in asg),
                          assignment=tuple(int(c) for c in asg), totals=totals, budgets=bud,
                          objective_name=objective, objective=totals[objective], status=status,
                          solver=sname, solve_time_s=time.perf_counter() - t0, method="ilp+act-ties")
