"""What a memory budget counts: the weights alone, or the weights plus the KV cache.

``--memory-scope weights`` (the default) budgets `memory_bytes` = the weight bytes of the
chosen formats. ``--memory-scope weights+kv`` adds the KV cache of a decoder LLM at the
workload's context x batch, stored in one KV format (`--kv`, else the accelerator's
`default_kv_format`, else its activation format: `hwsim.evaluate.kv_format`):

- the context is the one the workload holds at its end: `seq_len` tokens in prefill, the
  context length in decode, and prompt + generated tokens in phase ``generate`` (each
  layer capped at its sliding window);
- the cache is charged to the rows of the table that write it: block ``X``'s K cache to
  ``X.k_proj``'s row and its V cache to ``X.v_proj``'s (the decode steps of phase generate
  reuse the prefill rows), the same bytes for every choice of that row. Every allocator,
  the Pareto sweep, relative budgets (``0.6x`` of all-int8 weights plus the cache) and the
  smallest achievable memory of an infeasible budget therefore count the cache.

The bytes per row are `Layer.weight_elems` of the attention MATMUL reading that cache at
its largest context (K for ``attn_score``, V for ``attn_context``) x the KV format's
bits per element / 8; their sum is `Workload.kv_cache_bytes` (checked).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from lowbit.kernels_ref.errors import InvalidSpecError, LowbitError
from lowbit.search.costs import CostTable

__all__ = ["MEMORY_SCOPES", "KVCache", "describe", "kv_cache_rows", "scope_model_table", "scoped_table",
           "with_kv_cache"]

MEMORY_SCOPES = ("weights", "weights+kv")

#: attention MATMUL name suffix -> the projection whose output that operand caches
_CACHE_WRITER = {"attn_score": "k_proj", "attn_context": "v_proj"}


@dataclass(frozen=True)
class KVCache:
    """The KV cache a `weights+kv` memory budget counts."""

    fmt: str
    bits_per_elem: float
    total_bytes: float
    rows: Mapping[str, float]   # table row (k_proj / v_proj) -> bytes of the cache it writes
    context: int                # tokens per sequence at the end of the workload
    batch: int
    charged_to: str = "k_proj/v_proj rows"  # which table rows hold the cache's bytes

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.fmt, "bytes": self.total_bytes, "context": self.context,
                "batch": self.batch, "bits_per_elem": self.bits_per_elem}


def kv_cache_rows(workload: Any, kv_fmt: Any) -> KVCache:
    """The KV cache of `workload` in `kv_fmt`, per table row that writes it (module docstring).
    InvalidSpecError for a workload without a KV cache (encoders, CNNs, traced modules)."""
    from lowbit.kernels_ref.formats import Format
    from lowbit.models.ir import OpKind

    fmt = kv_fmt if isinstance(kv_fmt, Format) else Format.parse(str(kv_fmt))
    bpe = float(fmt.bits_per_weight)
    total = float(workload.kv_cache_bytes(bpe))
    if total <= 0:
        raise InvalidSpecError(f"--memory-scope weights+kv: model {workload.name!r} has no KV cache "
                               "(decoder LLMs only); use --memory-scope weights")
    by = workload.by_name
    elems: dict[str, float] = {}
    for ly in workload.layers:
        if ly.op is not OpKind.MATMUL:
            continue
        block, _, kind = ly.name.rpartition(".")
        if kind not in _CACHE_WRITER:
            continue
        writer = by.get(f"{block}.{_CACHE_WRITER[kind]}")
        if writer is None:
            raise InvalidSpecError(f"--memory-scope weights+kv: attention {ly.name!r} has no "
                                   f"{_CACHE_WRITER[kind]} in its block to charge the cache to")
        row = writer.tied_to or writer.name
        elems[row] = max(elems.get(row, 0.0), float(ly.weight_elems))  # the largest context
    rows = {r: e * bpe / 8.0 for r, e in elems.items()}
    if not np.isclose(sum(rows.values()), total, rtol=1e-12, atol=0.0):
        raise LowbitError(f"model {workload.name}: KV cache per attention layer sums to "
                          f"{sum(rows.values()):.6g} B, the workload's KV cache is {total:.6g} B")
    m = dict(workload.meta)
    ctx = int(m.get("context_len") or workload.seq_len)
    return KVCache(str(fmt), bpe, total, rows, ctx, int(workload.batch))


def with_kv_cache(table: CostTable, kv: KVCache) -> CostTable:
    """`table` with each cache-writing row's `memory_bytes` raised by the cache it writes, for
    every choice (a KV format fixed for the whole model does not depend on the weight format)."""
    if "memory_bytes" not in table.costs:
        raise InvalidSpecError("--memory-scope weights+kv needs a table priced by hwsim "
                               "(--hw/--model), which has memory_bytes")
    missing = sorted(set(kv.rows) - set(table.layers))
    if missing:
        raise InvalidSpecError(f"--memory-scope weights+kv: the cost table has no row {missing[0]!r} "
                               "to charge its KV cache to")
    add = np.zeros(table.num_layers)
    for r, b in kv.rows.items():
        add[table.layers.index(r)] += b
    return table.with_costs(memory_bytes=table.costs["memory_bytes"] + add[:, None])


def counts_kv(scope: str, kv_fmt: Any = None) -> bool:
    """Whether `scope` puts the KV cache in the memory figure; a `kv_fmt` given without
    ``weights+kv``, or an unknown scope, is an error."""
    if scope not in MEMORY_SCOPES:
        raise InvalidSpecError(f"--memory-scope {scope!r}: expected one of {', '.join(MEMORY_SCOPES)}")
    if scope == "weights" and kv_fmt is not None:
        raise InvalidSpecError("--kv sets the KV-cache format of --memory-scope weights+kv")
    return scope != "weights"


def scoped_table(table: CostTable, scope: str, workload: Any = None, accel: Any = None,
                 kv_fmt: Any = None) -> tuple[CostTable, KVCache | None]:
    """The table whose `memory_bytes` counts what `scope` says, and the KV cache it added
    (None for ``weights``). The KV format: `kv_fmt`, else the accelerator's default KV
    format, else its activation format."""
    if not counts_kv(scope, kv_fmt):
        return table, None
    if workload is None or accel is None:
        raise InvalidSpecError("--memory-scope weights+kv needs --hw and --model (the KV cache "
                               "comes from the model at its context and batch)")
    from lowbit.hwsim.evaluate import kv_format

    kv = kv_cache_rows(workload, kv_format(accel, accel.act_format, kv_fmt))
    return with_kv_cache(table, kv), kv


def scope_model_table(table: CostTable, scope: str, model: str, hw: str, *, kv_fmt: Any = None,
                      phase: str | None = None, seq_len: int | None = None, batch: int = 1,
                      generate: int | None = None) -> tuple[CostTable, KVCache | None]:
    """`scoped_table` for the table `search.model_tables.table_for_model` built from these
    arguments (the same workload, rebuilt only for ``weights+kv``)."""
    if scope == "weights":
        return scoped_table(table, scope, kv_fmt=kv_fmt)
    from lowbit.hwsim.spec import load_accelerator
    from lowbit.search.model_tables import workload_for

    wl = workload_for(model, phase=phase, seq_len=seq_len, batch=batch, generate=generate)
    return scoped_table(table, scope, wl, load_accelerator(hw), kv_fmt)


def describe(kv: KVCache) -> str:
    """One line for the CLI: what the memory column holds besides the weights (the size is
    left out while it is not known: a KV format each attention still has to choose)."""
    b = kv.total_bytes
    size = "" if not np.isfinite(b) else ", " + next(
        f"{b / d:.4g} {u}" for d, u in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1.0, "B")) if b >= d or u == "B")
    return (f"memory_bytes includes the KV cache: {kv.fmt}{size} at "
            f"context {kv.context} x batch {kv.batch} (charged to the {kv.charged_to})")
