"""Issue 16 item 2: activation (and KV) widths chosen by the joint ILP under each uniform
width's latency vs that uniform allocation, quality measured on HELD-OUT data by running the
whole quantised model.

- digits CNN (seed 0): weights int8, each layer's input activations from int2..int8;
  sensitivity = logit MSE on 256 calibration images (KL failed the held-out check, so MSE);
  held-out = the 360 test images, logit MSE.
- MiniLM-L6: weights int8, each Linear's input and each attention MATMUL's (activation, KV)
  pair from int4/int5/int6/int8; sensitivity = 1 - cos of the sentence embedding on 24
  calibration sentences (additive: act + KV); held-out = 12 other sentences, 1 - cos.

Hardware: loom (bit-serial, rewards narrow activations) and btc-a100-like (binary tensor core,
x.y bit planes). Latency in cycles from hwsim. Run:

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_joint.py [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import torch
from lowbit.hwsim.spec import load_accelerator
from lowbit.models import act_sensitivity as A
from lowbit.models import minilm as M
from lowbit.models import zoo
from lowbit.models.zoo.digits import load_digits_tensors
from lowbit.search.joint import JointTable, build_joint, compose_sensitivity, parse_choice
from lowbit.search.joint_eval import Comparison, ilp_vs_uniform

HW = ("loom", "btc-a100-like")


def _rows(model: str, hw: str, rows: Sequence[Comparison]) -> list[str]:
    out = []
    for r in rows:
        acts = sorted({parse_choice(c).act for c in r.choices})
        out.append(f"| {model} | {hw} | {r.uniform} | {r.cost_uniform:,.0f} | {r.cost_ilp:,.0f} | "
                   f"{r.quality_uniform:.4g} | {r.quality_ilp:.4g} | {r.quality_ilp / r.quality_uniform:.3f} | "
                   f"{'/'.join(a.removeprefix('int') for a in acts)} |")
    return out


def _compare(jt: JointTable, uniform: Callable[[str], list[int]], widths: Sequence[str],
             quality: Callable[[Sequence[str]], float]) -> list[Comparison]:
    return ilp_vs_uniform(jt, {u: uniform(u) for u in widths}, quality)


def digits(cache_dir: str | None) -> list[str]:
    afs = ["int2", "int3", "int4", "int5", "int6", "int8"]
    net, calib, _ = zoo.trained("digits-cnn", seed=0)
    _x, _y, x_te, _y_te = load_digits_tensors(0)
    st = A.activation(net, calib, afs, metric="mse", cache_dir=cache_dir)
    out = []
    for hw in HW:
        jt = build_joint(zoo.get("digits-cnn"), load_accelerator(hw), ["int8"], afs)
        jt = compose_sensitivity(jt, weight={(n, "int8"): 0.0 for n in jt.table.layers}, act=st)
        t = jt.table

        def quality(choices: Sequence[str], t=t) -> float:
            acts = {n: parse_choice(c).act for n, c in zip(t.layers, choices)}
            with torch.no_grad():
                ref = net(x_te)
                with A.quantised(net, acts=acts):
                    return A.output_distance(net, x_te, ref, "mse")

        rows = _compare(jt, lambda u, t=t: list(t.uniform(f"int8/{u}")), afs[:-1], quality)
        out += _rows("digits-cnn", hw, rows)
    return out


def minilm(cache_dir: str | None) -> list[str]:
    afs = ["int4", "int5", "int6", "int8"]
    net, tok = M.embedder()
    ids, held = M.token_ids(tok, M.CALIB), M.token_ids(tok, M.HELD_OUT)
    act, kv = M.activation(net, ids, afs, cache_dir=cache_dir), M.kv(net, ids, afs, cache_dir=cache_dir)
    out = []
    for hw in HW:
        jt = build_joint(zoo.get("minilm-l6"), load_accelerator(hw), ["int8"], afs, afs)
        t = jt.table
        jt = compose_sensitivity(jt, weight={(n, "int8"): 0.0 for n in t.layers},
                                 act={(n, a): 0.0 for n in t.layers for a in afs} | act.as_mapping(), kv=kv)
        t = jt.table

        def quality(choices: Sequence[str], t=t) -> float:
            cs = {n: parse_choice(c) for n, c in zip(t.layers, choices) if n.startswith("layers.")}
            return M.held_out_distance(net, held, acts={n: c.act for n, c in cs.items()},
                                       kv={n: c.kv for n, c in cs.items() if c.kv})

        def uniform(u: str, jt=jt, t=t) -> list[int]:
            return [t.choices.index(f"int8/{u}" if k == "weight" else f"kv:{u}/{u}") for k in jt.kinds]

        out += _rows("minilm-l6", hw, _compare(jt, uniform, afs[:-1], quality))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache-dir", default=None, help="sensitivity cache (default ~/.cache/lowbit/sensitivity)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    head = [("| model | hardware | uniform act | latency uniform (cycles) | latency ILP (cycles) | "
             "held-out uniform | held-out ILP | ILP / uniform | ILP act widths |"),
            "|---|---|---|---:|---:|---:|---:|---:|---|"]
    sys.stdout.write("\n".join([*head, *digits(args.cache_dir), *minilm(args.cache_dir)]) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
