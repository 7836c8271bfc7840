"""The generation scenario: prefill of P prompt tokens, then G generated tokens.

One workload (phase `generate`) holds the prefill's layers (named `prefill.<layer>`)
followed by G decode steps (`decode<g>.<layer>`, g = 1..G), step g running one new
token per sequence against P + g keys (its own key included, as the decode phase
counts). Its totals are therefore the prefill plus the sum of the decode steps at
growing context. The KV cache it reports (`meta` `kv_cached_tokens`, hence
`Workload.kv_cache_bytes`) is the one at the end: P + G tokens per layer (capped at a
sliding window), the largest the scenario holds. Decode layers reuse the prefill's weights (`Layer.tied_to`), so the
parameters count once while every step's weight reads and MACs count. Each step
depends on the previous one (its lm_head feeds the next step's embedding).

Defaults are BitMoD's scenario: a 256-token context and 20 generated tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.ir import Layer, Phase, Workload

__all__ = ["DEFAULT_GENERATE", "DEFAULT_PROMPT", "build_generation"]

DEFAULT_PROMPT = 256
DEFAULT_GENERATE = 20


def _positive(model: str, key: str, v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise InvalidSpecError(f"model {model}: {key} must be a positive integer, got {v!r}")
    return v


def build_generation(build: Callable[..., Workload], name: str, prompt: int | None, context_len: int | None,
                     generate: int | None, batch: int) -> Workload:
    """`build(phase=, seq_len=, context_len=)` makes one part; see the module docstring."""
    if context_len is not None:
        raise InvalidSpecError(f"model {name}: the generate phase takes --prompt/--generate "
                               f"(seq_len and generate), not a context length")
    p = _positive(name, "prompt", DEFAULT_PROMPT if prompt is None else prompt)
    g = _positive(name, "generate", DEFAULT_GENERATE if generate is None else generate)
    pre = build(phase=Phase.PREFILL, seq_len=p)
    layers: list[Layer] = [replace(l, name=f"prefill.{l.name}",
                                   tied_to=None if l.tied_to is None else f"prefill.{l.tied_to}")
                           for l in pre.layers]
    edges = [(f"prefill.{a}", f"prefill.{b}") for a, b in pre.edges or ()]
    last = layers[-1].name
    dec = pre
    for step in range(1, g + 1):
        dec = build(phase=Phase.DECODE, context_len=p + step)
        tag = f"decode{step}."
        for l in dec.layers:
            src = l.tied_to or l.name
            tied = f"prefill.{src}" if l.has_weights else None
            layers.append(replace(l, name=tag + l.name, tied_to=tied))
        edges.extend((tag + a, tag + b) for a, b in dec.edges or ())
        edges.append((last, tag + dec.layers[0].name))
        last = tag + dec.layers[-1].name
    meta = dict(pre.meta)
    kv = {k: v for k, v in dec.meta if k.startswith("kv_")}  # the cache after the last step
    meta.update(kv, prompt=p, generate=g, context_len=p + g)
    return Workload(name, Phase.GENERATE, tuple(layers), tuple(edges), batch=batch, seq_len=p,
                    meta=tuple(meta.items()))
