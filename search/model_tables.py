"""`table_for_model`: the CostTable of a model on an accelerator (the `lowbit allocate --hw` path).

The model is anything `models.workload_io.resolve_model` reads (zoo name, HF config.json,
ONNX, workload file, `file.py:factory`); the hardware a preset name or a YAML path. Every
(layer, choice) is priced by hwsim (`CostTable.from_hwsim`, SI units: `latency_s`,
`cycles`, `energy_j`, `memory_bytes`, `bops`); layers that reuse another layer's weights
(a tied lm_head, the decode steps of phase `generate`) are folded into the layer owning the
weights, so the table's totals are the whole workload's weight-layer totals.

Sensitivity: a FILE (CSV/JSON, `models.sensitivity.load`), ``builtin`` (`models.quality`; only
the formats its source covers: ResNet-18's HAWQ-V3 table is int4/int8), ``builtin-fit`` (the same
plus ResNet-18's other INT widths by the stated per-layer fit),
or ``measured`` / ``hessian`` / ``proxy`` for models with real weights: a torch module file
(`file.py:factory`, with calibration inputs from the factory; `models.quality.for_torch`)
or a zoo model lowbit trains (`models.zoo.runnable_models`). Any other model has shapes but
no weights here, so those methods are an error saying what it can use, never a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.search.costs import CostTable, choice_label

__all__ = ["SENSITIVITY_SOURCES", "table_for_model", "workload_for"]

#: What `--sensitivity` may be besides a FILE.
SENSITIVITY_SOURCES = ("builtin", "builtin-fit", "measured", "hessian", "proxy")


def _held_label(weight_fmt: str, act_formats: Sequence[str] | None) -> str:
    """Choice label of a layer held at `weight_fmt` (with the widest activation format when
    activations are chosen too)."""
    if not act_formats:
        return weight_fmt
    from lowbit.kernels_ref.formats import Format

    return choice_label(weight_fmt, max(act_formats, key=lambda a: (Format.parse(str(a)).bits_per_weight, str(a))))


def workload_for(model: str, *, phase: str | None = None, seq_len: int | None = None, batch: int = 1,
                 generate: int | None = None) -> object:
    """The workload `table_for_model` prices (shape keywords only where given, so fixed
    graphs such as workload files and torch modules take none)."""
    from lowbit.models.workload_io import resolve_model

    shape = {k: v for k, v in (("seq_len", seq_len), ("generate", generate)) if v is not None}
    if batch != 1:
        shape["batch"] = batch
    return resolve_model(model, phase=phase, **shape)


def _has_weights_here(model: str) -> bool:
    from lowbit.models import zoo
    from lowbit.models.workload_io import is_torch_factory

    if is_torch_factory(model):
        return True
    try:
        return zoo.canonical(model) in zoo.runnable_models()
    except InvalidSpecError:  # not a zoo name (a config, ONNX or workload file): shapes only
        return False


def table_for_model(model: str, hw: str, formats: Sequence[str], *, act_formats: Sequence[str] | None = None,
                    sensitivity: str | None = None, phase: str | None = None, seq_len: int | None = None,
                    batch: int = 1, generate: int | None = None,
                    cache_dir: str | Path | None = None) -> CostTable:
    """CostTable for a model on an accelerator (see the module docstring). `generate` is the
    number of decode steps of phase ``generate`` (prompt length `seq_len`)."""
    from lowbit.hwsim.spec import load_accelerator
    from lowbit.models import quality as Q
    from lowbit.models import sensitivity as S
    from lowbit.models.workload_io import is_torch_factory

    if sensitivity is None:
        raise InvalidSpecError("--sensitivity is required with --hw: a FILE (CSV/JSON), "
                               + ", ".join(repr(s) for s in SENSITIVITY_SOURCES))
    accel = load_accelerator(hw)
    workload = workload_for(model, phase=phase, seq_len=seq_len, batch=batch, generate=generate)
    weight_fmts = list(formats)
    names = [ly.name for ly in workload.layers if ly.weight_params > 0]
    if sensitivity in Q.METHODS and not _has_weights_here(model):
        raise InvalidSpecError(f"--sensitivity {sensitivity}: model {model!r} has no weights in lowbit; "
                               f"it can use {Q.usable_sensitivities(model)}")
    if sensitivity in SENSITIVITY_SOURCES:
        if is_torch_factory(model):
            if sensitivity in Q.BUILTIN:
                raise InvalidSpecError(f"--sensitivity {sensitivity}: {model} is your own module; use "
                                       f"{', '.join(Q.METHODS)} or a FILE")
            q = Q.for_torch(model, weight_fmts, sensitivity, cache_dir=cache_dir)
        else:
            q = Q.for_model(model, weight_fmts, cache_dir=cache_dir, method=sensitivity)
        sens_w, held, ties = q.for_layers(names, where=f"--sensitivity {sensitivity}")
        if act_formats:  # measured activation terms, not the weight value repeated (search.joint)
            from lowbit.search.pair_terms import measured_pair_sensitivity

            sens = measured_pair_sensitivity(model, names, sens_w, act_formats, sensitivity, cache_dir)
        else:
            sens = sens_w
        return CostTable.from_hwsim(workload, weight_fmts, accel, sensitivity=sens,
                                    act_formats=act_formats, ties=ties,
                                    fixed={n: _held_label(f, act_formats) for n, f in held.items()})
    st = S.load(sensitivity)
    if act_formats:  # per-pair 'W/A' columns, or 'W' + 'act:A' (search.pair_terms); never repeated
        from lowbit.search.pair_terms import pair_array

        sens, _form = pair_array(st, names, weight_fmts, list(act_formats), f"sensitivity {sensitivity}")
    else:
        sens = st.array_for(names, weight_fmts, where=f"sensitivity {sensitivity}")
    by_name = {n: i for i, n in enumerate(names)}
    tie_pairs = [(by_name[ly.tied_to], by_name[ly.name]) for ly in workload.layers
                 if ly.tied_to and ly.name in by_name and ly.tied_to in by_name]
    return CostTable.from_hwsim(workload, weight_fmts, accel, sensitivity=sens,
                                act_formats=act_formats, ties=tie_pairs)
