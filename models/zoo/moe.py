"""Mixture-of-experts blocks for the transformer builder: routing, expert GEMMs, counts.

A sparse block of T tokens with E experts and top-k routing makes R = T * k
token-expert assignments. Every expert that receives tokens is its own set of
GEMMs (`experts.j.w1/w3/w2` for Mixtral, `experts.j.gate_proj/up_proj/down_proj`
for Qwen-MoE) with M = its token count, so a layer's weight traffic counts each
expert that any token of the batch touches, once.

- Balanced routing (the default): the number of distinct experts hit is the
  expected number of distinct values in R independent uniform draws from E,
  E * (1 - (1 - 1/E)^R), rounded to the nearest integer and at least k (one
  token alone hits k distinct experts); the R assignments are spread evenly
  over those experts (the first ones take the remainder). Prefill of 2048
  tokens hits all experts; one decode token of Mixtral (E=8, k=2) hits 2.
- A histogram (E non-negative weights, `routing=`): the R assignments follow it
  by largest remainder (an expert takes each token at most once; the excess goes to
  the next experts by weight); experts left with no tokens run no GEMM.

`Workload.total_params` then counts the experts that ran; `meta["idle_params"]`
holds the weights of experts no token reached (stored, not read), so that
`zoo.total_params_with_aux` still gives the model's full size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = ["distinct_experts", "expert_tokens"]


def distinct_experts(experts: int, top_k: int, assignments: int) -> float:
    """Expected distinct experts hit by `assignments` uniform draws from `experts`."""
    return experts * (1.0 - (1.0 - 1.0 / experts) ** assignments)


def expert_tokens(experts: int, top_k: int, tokens: int,
                  routing: Sequence[float] | None = None, where: str = "moe") -> list[int]:
    """Tokens per expert (length `experts`, zeros for experts not hit) for `tokens` tokens."""
    if top_k < 1 or top_k > experts:
        raise InvalidSpecError(f"{where}: top-k {top_k} must be in 1..{experts} experts")
    total = tokens * top_k
    if routing is None:
        hit = max(min(top_k, experts), min(experts, round(distinct_experts(experts, top_k, total))))
        base, rem = divmod(total, hit)
        return [base + (1 if j < rem else 0) for j in range(hit)] + [0] * (experts - hit)
    weights = [float(x) for x in routing]
    if len(weights) != experts:
        raise InvalidSpecError(f"{where}: routing histogram has {len(weights)} entries, the model has "
                               f"{experts} experts")
    if any(not math.isfinite(x) or x < 0 for x in weights) or sum(weights) <= 0:
        raise InvalidSpecError(f"{where}: routing histogram must be non-negative with a positive sum")
    s = sum(weights)
    exact = [total * x / s for x in weights]
    out = [math.floor(x) for x in exact]
    order = sorted(range(experts), key=lambda j: (-(exact[j] - out[j]), j))
    for j in order[: total - sum(out)]:
        out[j] += 1
    # an expert sees each token at most once: excess goes to the next experts by weight
    by_weight = sorted(range(experts), key=lambda j: (-weights[j], j))
    excess = sum(max(0, t - tokens) for t in out)
    out = [min(t, tokens) for t in out]
    for j in by_weight:
        if excess == 0:
            break
        give = min(excess, tokens - out[j])
        out[j] += give
        excess -= give
    return out
