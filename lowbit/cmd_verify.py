"""`lowbit verify`: check every registered reference kernel against torch, and
optionally a whole model under an allocation.

    lowbit verify [--device cpu|cuda] [--formats int4,ternary,...] [--seed N] [--json]
    lowbit verify --model digits|minilm --allocation FILE [--seed N] [--json]

--model takes the zoo's names too (digits-cnn, minilm-l6: what `lowbit allocate` writes
into alloc.json) and any alias the zoo resolves to them.

Exit 0 when every check passes, 1 when any fails, 2 on bad arguments.
The allocation file is the document `lowbit allocate -o alloc.json` writes (zoo layer
names, translated to module names by the rule in `lowbit.models.naming`), or YAML/JSON: a
mapping of module name (or fnmatch pattern) -> format string, e.g.
`{"encoder.layer.*.intermediate.dense": int4g128}`. Layers the check cannot run
(embedding tables) are listed as not run; joint "w/a" choices run their weight format
with the check's own activations (int8 per token, or fp16).

    lowbit allocate --hw loom --model digits --formats int4,int8 --sensitivity builtin --memory 0.7x -o alloc.json
    lowbit verify --model digits --allocation alloc.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lowbit.argtypes import SEED_MAX, bounded_int
from lowbit.kernels_ref.errors import InvalidSpecError

if TYPE_CHECKING:  # torch loads only when a check runs, not for `lowbit --help`
    import torch

__all__ = ["MODEL_NAMES", "load_allocation", "load_named_model", "model_key", "register", "run"]

log = logging.getLogger(__name__)

MODEL_NAMES = ("digits", "minilm")
_MINILM_SENTENCES = (
    "Low-bit accelerators trade precision for throughput.",
    "The quick brown fox jumps over the lazy dog.",
    "A bit-serial multiplier takes one cycle per weight bit.",
    "Which number format does each layer need?",
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("verify", help="check reference kernels (and a whole model) against torch",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--formats", default=None, help="comma-separated weight formats to check (default: all)")
    p.add_argument("--model", default=None,
                   help="whole-model check on one of: digits (zoo digits-cnn), minilm (zoo minilm-l6)")
    p.add_argument("--allocation", default=None, help="YAML/JSON file: layer name or pattern -> format")
    p.add_argument("--seed", type=bounded_int(0, SEED_MAX, "--seed"), default=None,
                   help=f"base seed, 0..{SEED_MAX} (default: fresh, printed)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=run)


def load_allocation(path: str, model: str | None = None) -> dict[str, str]:
    """Read an allocation file: layer name (or pattern) -> weight format.

    Two shapes: the document `lowbit allocate -o` writes (a `layers` list of
    {name, format}: zoo layer names, translated to module names by `models.naming`
    for `model`, and "w/a" joint choices reduced to the weight format; the document's
    own `model` must be `model`), or a plain YAML/JSON mapping of module name or fnmatch
    pattern -> format. Zoo layers without a module (attention matmuls) are left out."""
    from lowbit.kernels_ref.loaders import load_yaml, read_text, short

    data = load_yaml(read_text(path, "allocation file"), f"allocation file {path}")  # JSON is YAML
    if isinstance(data, dict) and isinstance(data.get("layers"), list):
        return _from_document(data, path, model)
    if not isinstance(data, dict) or not data:
        raise InvalidSpecError(f"allocation file {path}: expected a non-empty mapping of layer name -> format, "
                               "or the document `lowbit allocate -o` writes")
    for k, v in data.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise InvalidSpecError(f"allocation file {path}: entry {short(k)}: {short(v)} must map a "
                                   "layer name to a format string")
    return dict(data)


def _from_document(doc: dict[str, Any], path: str, model: str | None) -> dict[str, str]:
    from lowbit.kernels_ref.loaders import short
    from lowbit.models import naming, zoo

    doc_model = doc.get("model")
    if not isinstance(doc_model, str) or not doc_model:
        raise InvalidSpecError(f"allocation file {path}: the document names no model (key 'model')")
    if model is not None and zoo.canonical(doc_model) != zoo.canonical(model):
        raise InvalidSpecError(f"allocation file {path} allocates {doc_model!r}, not --model {model!r}")
    out: dict[str, str] = {}
    for i, ly in enumerate(doc["layers"]):
        if not isinstance(ly, dict) or not isinstance(ly.get("name"), str) or not isinstance(ly.get("format"), str):
            raise InvalidSpecError(f"allocation file {path}: layers[{i}] = {short(ly)} needs string 'name' "
                                   "and 'format'")
        mod = naming.zoo_to_module(doc_model, ly["name"])
        if mod is not None:
            out[mod] = ly["format"].partition("/")[0]
    if not out:
        raise InvalidSpecError(f"allocation file {path}: no layer of the document has a module")
    return out


def model_key(name: str) -> str:
    """The `MODEL_NAMES` entry `name` means: itself, or the one whose zoo name it resolves to
    (``minilm-l6`` -> ``minilm``, ``digits-cnn`` -> ``digits``); InvalidSpecError otherwise."""
    from lowbit.models import zoo

    if name in MODEL_NAMES:
        return name
    known = {zoo.canonical(m): m for m in MODEL_NAMES}
    try:
        key = zoo.canonical(name)
    except InvalidSpecError:
        key = None
    if key not in known:
        raise InvalidSpecError(f"unknown model {name!r} for the whole-model check; known: "
                               + ", ".join(f"{m} ({z})" for z, m in known.items()))
    return known[key]


def load_named_model(name: str, seed: int = 0) -> tuple[torch.nn.Module, Any, Callable[[torch.nn.Module], dict[str, float]]]:
    """(model, inputs, metric_fn) for a model the CLI knows.

    digits: the sklearn-digits CNN trained with `seed`; inputs the test images;
    metric: top-1 accuracy. minilm: all-MiniLM-L6-v2 (offline); inputs four
    tokenised sentences; metric: mean cosine of the mean-pooled sentence
    embeddings to the fp32 model's.
    """
    name = model_key(name)
    if name == "digits":
        from lowbit.models.zoo.digits import digits_accuracy, train_digits_cnn

        model, (x, y) = train_digits_cnn(seed)
        return model, [x], lambda m: {"accuracy": digits_accuracy(m, x, y)}
    if name == "minilm":
        import torch

        from lowbit.models.importers import load_minilm

        model, tok = load_minilm()
        enc = dict(tok(list(_MINILM_SENTENCES), padding=True, return_tensors="pt"))
        mask = enc["attention_mask"].unsqueeze(-1).float()

        def embed(m: torch.nn.Module) -> torch.Tensor:
            with torch.no_grad():
                h = m(**enc).last_hidden_state
            return torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1), dim=-1)

        ref = embed(model)

        def metric(m: torch.nn.Module) -> dict[str, float]:
            return {"embedding_cosine": float((embed(m) * ref).sum(-1).mean())}

        return model, enc, metric
    raise InvalidSpecError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}")


def _gemm_only(model: torch.nn.Module, alloc: dict[str, str]
               ) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """Split exact module names that are not Linear/Conv (embedding tables an allocation
    holds) from the allocation: (runnable allocation, {name: (module type, format)})."""
    from lowbit.kernels_ref.wholemodel import supported_modules

    mods = dict(model.named_modules())
    gemm = supported_modules(model)
    skipped = {k: (type(mods[k]).__name__, v) for k, v in alloc.items() if k in mods and k not in gemm}
    return {k: v for k, v in alloc.items() if k not in skipped}, skipped


def _run_model(args: argparse.Namespace, seed: int) -> int:
    from lowbit.kernels_ref.wholemodel import check_model

    if not args.allocation:
        raise InvalidSpecError("--model needs --allocation FILE (layer name or pattern -> format)")
    key = model_key(args.model)
    alloc = load_allocation(args.allocation, args.model)
    model, inputs, metric = load_named_model(key, seed)
    alloc, skipped = _gemm_only(model, alloc)
    res = check_model(model, alloc, inputs, metric_fn=metric, source=f"allocation file {args.allocation}")
    if args.json:
        print(json.dumps({"model": args.model, "seed": seed, "passed": res.passed,
                          "rel_vs_fake": res.rel_vs_fake, "tol_vs_fake": res.tol_vs_fake,
                          "max_layer_rel_vs_fake": res.max_layer_rel_vs_fake, "layer_tol": res.layer_tol,
                          "max_abs_vs_fake": res.max_abs_vs_fake, "rel_l2_vs_fp32": res.rel_l2_vs_fp32,
                          "cosine_vs_fp32": res.cosine_vs_fp32, "metrics": res.metrics,
                          "time_kernel_s": res.time_kernel_s, "time_fake_s": res.time_fake_s,
                          "layers": [vars(l) for l in res.layers],
                          "not_run": {n: {"module": k, "format": f} for n, (k, f) in skipped.items()}},
                         indent=1))
    else:
        print(f"whole-model check: {args.model}, {len(res.layers)} layers quantised, seed {seed}")
        for name, (kind, fmt) in skipped.items():
            print(f"  not run: {name} ({kind}, allocated {fmt}): the check runs Linear/Conv layers only")
        w = max(len(l.name) for l in res.layers)
        for l in res.layers:
            print(f"  {l.name.ljust(w)}  {l.module:<7} K={l.k:<5} N={l.n:<5} {l.fmt:<10} {l.kernel:<20} "
                  f"layer rel {l.max_rel_vs_fake:.2g}")
        print(f"kernel vs fake-quant torch, per layer (lockstep): worst rel {res.max_layer_rel_vs_fake:.3g} "
              f"(tol {res.layer_tol:.3g})")
        print(f"kernel vs fake-quant torch, model output: max abs {res.max_abs_vs_fake:.3g}, rel {res.rel_vs_fake:.3g} "
              f"(tol {res.tol_vs_fake:.3g})")
        print(f"whole-model check: {'pass' if res.passed else 'FAIL'}")
        print(f"quality vs fp32: rel-L2 {res.rel_l2_vs_fp32:.4g}, cosine {res.cosine_vs_fp32:.6f}")
        for k, v in res.metrics.items():
            print(f"  {k} = {v:.4f}")
        print(f"time: kernel model {res.time_kernel_s:.3f} s, fake-quant model {res.time_fake_s:.3f} s")
    return 0 if res.passed else 1


def run(args: argparse.Namespace) -> int:
    import torch

    from lowbit.kernels_ref.verify import format_table, new_seed, verify_kernels

    if args.device not in ("cpu", "cuda"):
        raise InvalidSpecError(f"--device must be cpu or cuda, got {args.device!r}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise InvalidSpecError("--device cuda: no CUDA device is available here (torch.cuda.is_available() is False)")
    seed = new_seed() if args.seed is None else args.seed
    if args.model is not None or args.allocation is not None:
        if args.model is None:
            raise InvalidSpecError("--allocation needs --model NAME")
        if args.device != "cpu":
            raise InvalidSpecError("the whole-model check runs on cpu only")
        return _run_model(args, seed)
    formats = None
    if args.formats:
        formats = [f.strip() for f in args.formats.split(",") if f.strip()]
        if not formats:
            raise InvalidSpecError("--formats is empty")
    rep = verify_kernels(formats=formats, device=args.device, seed=seed)
    if args.json:
        print(rep.to_json())
    else:
        print(f"lowbit verify: device {rep.device}, seed {rep.seed} (rerun with --seed {rep.seed})")
        print(format_table(rep.rows))
        n_fail = len(rep.failures)
        total = sum(r.time_s for r in rep.rows)
        print(f"{len(rep.rows) - n_fail} of {len(rep.rows)} checks passed, kernel time {total:.3f} s")
    sys.stdout.flush()
    return 0 if rep.passed else 1
