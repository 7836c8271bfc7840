"""Layer names both ways: zoo layer names <-> torch module names <-> GGUF tensor names.

The zoo names layers by role (`layers.3.q_proj`, `embeddings.word`); a Hugging Face
model names its modules by attribute path (`encoder.layer.3.attention.self.query`);
llama.cpp names GGUF tensors by its own table (`blk.3.attn_q.weight`). An allocation
from `lowbit allocate` carries zoo names; `lowbit verify` runs torch modules;
`lowbit export --to gguf-types` writes GGUF tensor names. The rule, per model family:

- **identity**: models whose zoo layers are their module names: the digits CNN
  (`conv1`, `conv2`, `fc1`, `fc2`), the CNN zoo and traced modules.
- **bert** (bert-base, minilm-l6: `BertModel`):

  | zoo | module | GGUF |
  |---|---|---|
  | `embeddings.word` / `.position` / `.token_type` | `embeddings.word_embeddings` / `position_embeddings` / `token_type_embeddings` | `token_embd` / `position_embd` / `token_types` |
  | `layers.N.q_proj` / `k_proj` / `v_proj` | `encoder.layer.N.attention.self.query` / `key` / `value` | `blk.N.attn_q` / `attn_k` / `attn_v` |
  | `layers.N.o_proj` | `encoder.layer.N.attention.output.dense` | `blk.N.attn_output` |
  | `layers.N.fc1` / `fc2` | `encoder.layer.N.intermediate.dense` / `output.dense` | `blk.N.ffn_up` / `ffn_down` |
  | `pooler` | `pooler.dense` | none (llama.cpp's converter drops the pooler) |

- **llama** (model_type llama, mistral, qwen2: `LlamaForCausalLM` and kin):
  `layers.N.{q,k,v,o}_proj` <-> `model.layers.N.self_attn.{q,k,v,o}_proj` <->
  `blk.N.attn_{q,k,v,output}`; `layers.N.{gate,up,down}_proj` <-> `model.layers.N.mlp.*`
  <-> `blk.N.ffn_{gate,up,down}`; `embed_tokens` <-> `model.embed_tokens` <-> `token_embd`;
  `lm_head` <-> `lm_head` <-> `output`.

Activation x activation layers (`attn_score`, `attn_context`) have no module and no
tensor: they map to None. Any other zoo family has no rule here: an InvalidSpecError
says so (never a guessed name). Torch-free.
"""

from __future__ import annotations

import json
import re

from lowbit.kernels_ref.errors import InvalidSpecError

__all__ = ["family", "gguf_name", "module_to_zoo", "zoo_to_module"]

_BERT_TOP = {"embeddings.word": ("embeddings.word_embeddings", "token_embd"),
             "embeddings.position": ("embeddings.position_embeddings", "position_embd"),
             "embeddings.token_type": ("embeddings.token_type_embeddings", "token_types"),
             "pooler": ("pooler.dense", None)}
_BERT_BLOCK = {"q_proj": ("attention.self.query", "attn_q"), "k_proj": ("attention.self.key", "attn_k"),
               "v_proj": ("attention.self.value", "attn_v"), "o_proj": ("attention.output.dense", "attn_output"),
               "fc1": ("intermediate.dense", "ffn_up"), "fc2": ("output.dense", "ffn_down")}
_LLAMA_TOP = {"embed_tokens": ("model.embed_tokens", "token_embd"), "lm_head": ("lm_head", "output")}
_LLAMA_BLOCK = {"q_proj": ("self_attn.q_proj", "attn_q"), "k_proj": ("self_attn.k_proj", "attn_k"),
                "v_proj": ("self_attn.v_proj", "attn_v"), "o_proj": ("self_attn.o_proj", "attn_output"),
                "gate_proj": ("mlp.gate_proj", "ffn_gate"), "up_proj": ("mlp.up_proj", "ffn_up"),
                "down_proj": ("mlp.down_proj", "ffn_down")}
_RULES = {"bert": (_BERT_TOP, _BERT_BLOCK, "encoder.layer."),
          "llama": (_LLAMA_TOP, _LLAMA_BLOCK, "model.layers.")}
_LLAMA_TYPES = ("llama", "mistral", "qwen2")
_NO_MODULE = ("attn_score", "attn_context")
_ZOO_BLOCK = re.compile(r"^layers\.(\d+)\.(.+)$")


def family(model: str) -> str:
    """The naming family of a zoo model: "identity", "bert" or "llama" (else InvalidSpecError)."""
    from lowbit.models import zoo

    key = zoo.canonical(model)
    cfg = zoo.CONFIG_DIR / f"{key}.json"
    if not cfg.is_file():
        return "identity"  # CNNs, the digits CNN and traced modules: zoo names are module names
    mtype = str(json.loads(cfg.read_text(encoding="utf-8")).get("model_type", ""))
    if mtype == "bert":
        return "bert"
    if mtype in _LLAMA_TYPES:
        return "llama"
    raise InvalidSpecError(f"layer names of {key} (model_type {mtype!r}): lowbit has no zoo <-> module name "
                           f"rule for this family (known: identity, bert, {', '.join(_LLAMA_TYPES)})")


def _split(name: str) -> tuple[int | None, str]:
    m = _ZOO_BLOCK.match(name)
    return (int(m.group(1)), m.group(2)) if m else (None, name)


def _entry(model: str, zoo_name: str, col: int) -> str | None:
    fam = family(model)
    if fam == "identity":
        return zoo_name
    top, block, prefix = _RULES[fam]
    blk, role = _split(zoo_name)
    if blk is None and role in top:
        return top[role][col]
    if blk is not None and role in block:
        v = block[role][col]
        return None if v is None else (f"{prefix}{blk}.{v}" if col == 0 else f"blk.{blk}.{v}")
    if blk is not None and role in _NO_MODULE:
        return None
    raise InvalidSpecError(f"{model}: zoo layer {zoo_name!r} has no {('module', 'GGUF')[col]} name "
                           f"under the {fam} rule")


def zoo_to_module(model: str, zoo_name: str) -> str | None:
    """The torch module name of zoo layer `zoo_name` (None: an activation x activation layer)."""
    return _entry(model, zoo_name, 0)


def gguf_name(model: str, zoo_name: str) -> str | None:
    """The GGUF tensor base name (without `.weight`) of a zoo layer; None where llama.cpp has
    no tensor for it (BERT's pooler, attention matmuls). Identity models have no GGUF
    architecture: InvalidSpecError."""
    if family(model) == "identity":
        raise InvalidSpecError(f"{model}: llama.cpp has no architecture for this model, so its layers "
                               "have no GGUF tensor names")
    return _entry(model, zoo_name, 1)


def module_to_zoo(model: str, module: str) -> str:
    """The zoo layer name of torch module `module` (inverse of `zoo_to_module`)."""
    fam = family(model)
    if fam == "identity":
        return module
    top, block, prefix = _RULES[fam]
    for zname, (mod, _) in top.items():
        if module == mod:
            return zname
    if module.startswith(prefix):
        blk, _, rest = module[len(prefix):].partition(".")
        if blk.isdigit():
            for role, (mod, _) in block.items():
                if rest == mod:
                    return f"layers.{int(blk)}.{role}"
    raise InvalidSpecError(f"{model}: module {module!r} has no zoo layer name under the {fam} rule")
