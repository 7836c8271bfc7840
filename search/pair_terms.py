"""Where the quality of a (weight, activation) or (activation, KV) choice comes from.

A joint choice's sensitivity is never a weight value repeated across activation formats.
It comes from one of three sources:

- **jointly measured**: a value per full choice label (``"W/A"``, ``"kv:K/A"``). This is
  cheap on small models (`models.act_sensitivity.joint`).
- **additive**: a weight term ``s(W)`` plus an activation term ``s_act(A)``, or for an
  attention MATMUL ``s_act(A) + s_kv(K)``. Each part is measured alone with every other
  layer at full precision, so the sum assumes the two perturbations add. That is the
  first-order model behind every per-layer allocator, and it is stated wherever it is used.
- **measured here**: activation and KV terms on the models lowbit can run. On the digits
  CNN (`zoo.trained`) these are the output distance of the model's own metric with a
  layer's input activations quantised. On MiniLM-L6 (`models.minilm`) they are 1 - cos of
  the sentence embedding, over activations and K/V.

A sensitivity FILE (`models.sensitivity.load`: layer, format, value) uses its format
column for these terms. A column is one of:

- ``W``: a weight term;
- ``act:A``: an activation term;
- ``kv:K``: a KV term;
- a full label (``W/A``, ``kv:K/A``): a joint value, which wins over the sum.

`split_file` reads such a file into those four parts. `SensitivityTable.save` writes them
back unchanged, because they are plain format names.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = ["Terms", "file_has_act_terms", "measured_pair_sensitivity", "measured_terms", "models_with_act_terms",
           "pair_array", "split_file"]

Terms = dict[tuple[str, str], float]


def split_file(st: Any) -> tuple[Terms, Terms, Terms, Terms]:
    """(weight, act, kv, pairs) of a SensitivityTable whose format column uses the names
    in the module docstring."""
    w: Terms = {}
    a: Terms = {}
    k: Terms = {}
    p: Terms = {}
    for (layer, f), v in st.as_mapping().items():
        if f.startswith("act:"):
            a[(layer, f[4:])] = v
        elif f.startswith("kv:") and "/" not in f:
            k[(layer, f[3:])] = v
        elif "/" in f:
            p[(layer, f)] = v
        else:
            w[(layer, f)] = v
    return w, a, k, p


def pair_array(st: Any, names: Sequence[str], weight_formats: Sequence[str],
               act_formats: Sequence[str], where: str) -> tuple[np.ndarray, str]:
    """[layer, (W, A) weight-major] from a file: the joint ``W/A`` value where the file
    has one, else ``W + act:A``. A file with weight terms only is an error: its values
    would have to be repeated across activation formats. Returns the array and which form
    was used ("joint", "additive" or "joint+additive")."""
    w, a, _k, p = split_file(st)
    out = np.empty((len(names), len(weight_formats) * len(act_formats)))
    used = set()
    for i, n in enumerate(names):
        for j, (wf, af) in enumerate((x, y) for x in weight_formats for y in act_formats):
            lab = f"{wf}/{af}"
            if (n, lab) in p:
                out[i, j] = p[(n, lab)]
                used.add("joint")
                continue
            if (n, wf) not in w or (n, af) not in a:
                miss = f"{wf!r}" if (n, wf) not in w else f"'act:{af}'"
                raise InvalidSpecError(
                    f"{where}: layer {n!r} has no {lab!r} value and no {miss} column to add; with "
                    f"--act-formats a sensitivity file needs per-pair columns 'W/A' or weight columns 'W' "
                    f"plus activation columns 'act:A' (a weight value is never repeated across "
                    f"activation formats)")
            out[i, j] = w[(n, wf)] + a[(n, af)]
            used.add("additive")
    return out, "+".join(sorted(used))


def models_with_act_terms() -> tuple[str, ...]:
    """Zoo models whose activation terms lowbit measures itself (`measured_terms`)."""
    from lowbit.models import zoo

    return (*zoo.runnable_models(), "minilm-l6")


def file_has_act_terms(st: Any, weight_formats: Sequence[str], act_formats: Sequence[str]) -> bool:
    """Whether a sensitivity file gives every (W, A) choice a value of its own, on some layer:
    an ``act:A`` column for every A, or a ``W/A`` column for every pair (`pair_array` then
    checks each layer)."""
    _w, a, _k, p = split_file(st)
    acts = {f for _l, f in a}
    pairs = {f for _l, f in p}
    return all(af in acts or f"{wf}/{af}" in pairs for wf in weight_formats for af in act_formats)


def _minilm_terms(rows: Sequence[str], act_formats: Sequence[str], kv_formats: Sequence[str],
                  cache_dir: str | Path | None) -> tuple[Terms, Terms]:
    import torch
    from lowbit.models import minilm as M

    have = set(M.weight_rows()) | set(M.matmul_rows())
    act_rows = [r for r in rows if r in have]
    kv_rows = [r for r in rows if r in set(M.matmul_rows())]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net, tok = M.embedder()
        ids = M.token_ids(tok, M.CALIB)
        act = M.activation(net, ids, list(act_formats), layers=act_rows, cache_dir=cache_dir).as_mapping()
        kv = (M.kv(net, ids, list(kv_formats), layers=kv_rows, cache_dir=cache_dir).as_mapping()
              if kv_formats and kv_rows else {})
    finally:
        torch.set_num_threads(threads)
    # Embedding tables read no activation and the pooler is off the mean-pooled path: 0 exactly.
    for r in rows:
        if r not in have:
            act.update({(r, str(f)): 0.0 for f in act_formats})
    return act, kv


def measured_terms(model: str, rows: Sequence[str], act_formats: Sequence[str],
                   kv_formats: Sequence[str] = (), method: str = "measured",
                   cache_dir: str | Path | None = None) -> tuple[Terms, Terms, str]:
    """(activation terms, KV terms, source) measured on a model lowbit can run: the digits
    CNN (its own metric, `zoo.trained`) or MiniLM-L6 (1 - cos, `models.minilm`). Any other
    model, or the data-free ``proxy`` method, is an InvalidSpecError asking for a file."""
    from lowbit.models import zoo

    key = zoo.canonical(model)
    runnable = models_with_act_terms()
    if key not in runnable or method == "proxy":
        raise InvalidSpecError(
            f"--act-formats with --sensitivity {method}: no measured activation sensitivity for {model!r} "
            f"({'proxy is data-free' if method == 'proxy' else 'lowbit holds no runnable weights for it'}); "
            f"use --sensitivity measured/builtin on {', '.join(runnable)}, or a FILE with 'act:A' columns")
    if key == "minilm-l6":
        act, kv = _minilm_terms(rows, act_formats, kv_formats, cache_dir)
        return act, kv, "1 - cos of the MiniLM sentence embedding (24 calibration sentences)"
    import torch
    from lowbit.models import act_sensitivity as A

    net, calib, metric = zoo.trained(key, seed=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        st = A.activation(net, calib, list(act_formats), metric=metric, layers=list(rows), cache_dir=cache_dir)
    finally:
        torch.set_num_threads(threads)
    return st.as_mapping(), {}, f"{metric} of the {key} outputs on its calibration images"


def measured_pair_sensitivity(model: str, names: Sequence[str], sens_w: np.ndarray,
                              act_formats: Sequence[str], method: str, cache_dir: Any = None) -> np.ndarray:
    """[layer, (W, A) weight-major]: ``sens_w[l, W] + act[l, A]`` with the activation terms of
    `measured_terms` (additivity assumed)."""
    act, _kv, _src = measured_terms(model, names, act_formats, (), method, cache_dir)
    a = np.array([[act[(n, str(f))] for f in act_formats] for n in names])
    return (np.asarray(sens_w)[:, :, None] + a[:, None, :]).reshape(len(names), -1)

