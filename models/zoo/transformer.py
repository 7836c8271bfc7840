"""Generic transformer builder from a Hugging Face style `config.json`.

One builder serves the zoo (configs shipped in `models/zoo/configs/`) and
`models.importers.from_hf_config` (a user's own file). Supported
`model_type`s and what each block holds (T = batch * tokens):

- llama, mistral, qwen2, yi, bitnet (gated MLP): q/k/v/o projections (GQA: k/v
  out = kv_heads * head_dim), attention score and context MATMULs per K/V head:
  batch * kv_heads as batch, and the `heads // kv_heads` query heads that share a
  K/V head stacked into M (tokens x group), so each K/V head is read once, as GQA
  decode kernels (FlashDecoding, llama.cpp) and bitmod_sim run it; gate/up/down. RMSNorm gains (and BitNet's sub-norms) are
  auxiliary parameters; Qwen2's q/k/v biases too.
- mixtral, qwen2_moe (mixture of experts, `models.zoo.moe`): the same attention;
  the MLP is a router (`block_sparse_moe.gate` / `mlp.gate`, hidden x experts) and
  one gated MLP per expert that receives tokens (`...experts.j.w1/w3/w2` or
  `gate_proj/up_proj/down_proj`) with M = its routed tokens (top-k routing,
  balanced or a given histogram: `routing=`); Qwen-MoE adds a shared expert and
  its sigmoid gate (hidden x 1) on every token, and keeps a dense MLP in
  `mlp_only_layers`.
- Sliding-window attention (Mistral's `sliding_window`; Qwen2's when
  `use_sliding_window`, from layer `max_window_layers` on): each query sees at most
  the window's keys, so score N and context K are min(keys, window).
- opt: q/k/v/o, fc1/fc2 (ffn_dim), learned positions (max_position_embeddings + 2
  rows, OPT's offset), biases and LayerNorms auxiliary; tied lm_head.
- phi: q/k/v/o (called `dense` in HF), fc1/fc2, parallel attention and MLP off
  one LayerNorm; biases (lm_head too) auxiliary.
- bert: word/position/token-type embeddings, q/k/v/o, fc1/fc2 (intermediate and
  output dense), pooler on the [CLS] token; encoder only.
- vit: 16x16/16 patch embedding as a CONV2D, 1 + (image/patch)^2 tokens (197 at
  224x224), learned positions as an EMBEDDING table, fc1/fc2, classifier head on
  the [CLS] token.

KV cache (decoders): `meta` holds `kv_elems_per_token_layer` (2 x kv_heads x head_dim),
`kv_layers` and `kv_cached_tokens` (cached tokens summed over layers at this context:
sliding-window layers hold at most the window); `Workload.kv_cache_bytes(fmt)` prices it.

What `Workload.total_params` includes: every weight matrix and embedding table
(position tables too). Biases, norm gains, ViT's class token and BitNet's
sub-norm gains are counted separately as `aux_params` in the workload's `meta`
(`total_params_with_aux` adds them). A tied lm_head stores no parameters
(`Layer.tied_to`) but its MACs count.

Phases: `prefill` runs `seq_len` tokens per sequence (default 2048 for decoder
LLMs, 128 for BERT-style encoders); attention is counted dense (seq x seq, no
causal halving). `decode` runs one new token per sequence against `context_len`
keys (the new token's own key included); default context 2048. Encoders accept
`prefill` (alias `inference`), not `decode`; ViT's token count is fixed by the
image size. lm_head runs on every prefill token (as a HF forward does).
`Workload.seq_len` is the prefill length, or in decode the context length
(also `meta["context_len"]`).

Graph edges: the chain of data dependencies inside a block (q, k -> score;
score, v -> context; gate, up -> down ...) plus residual edges: a sublayer's
consumers also depend on the residual-stream producers it skips over.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lowbit.kernels_ref.errors import InvalidSpecError
from lowbit.models.ir import ConvGeometry, Layer, Phase, Workload
from lowbit.models.zoo.moe import expert_tokens

__all__ = [
    "DEFAULT_ENCODER_SEQ",
    "DEFAULT_LLM_SEQ",
    "SUPPORTED_MODEL_TYPES",
    "TransformerConfig",
    "build_transformer",
    "load_config",
]

DEFAULT_LLM_SEQ = 2048
DEFAULT_ENCODER_SEQ = 128

_MOE = ("mixtral", "qwen2_moe")
_GATED = ("llama", "mistral", "qwen2", "yi", "bitnet", *_MOE)
SUPPORTED_MODEL_TYPES: tuple[str, ...] = (*_GATED, "opt", "phi", "bert", "vit")
_DECODERS = (*_GATED, "opt", "phi")


@dataclass(frozen=True)
class TransformerConfig:
    """The config values the builder uses, validated."""

    name: str
    source: str
    model_type: str
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    layers: int
    vocab: int
    max_positions: int
    tie_embeddings: bool
    type_vocab: int = 0
    image_size: int = 0
    patch_size: int = 0
    channels: int = 0
    num_labels: int = 0
    embed_proj: int = 0  # OPT word_embed_proj_dim
    experts: int = 0  # MoE: routed experts (0: dense MLP)
    top_k: int = 0
    expert_inter: int = 0  # MoE: one expert's intermediate size
    shared_inter: int = 0  # Qwen-MoE shared expert's intermediate size (0: none)
    sparse_step: int = 1
    mlp_only: tuple[int, ...] = ()
    sliding_window: int = 0  # 0: full attention
    window_from_layer: int = 0
    qkv_bias: bool = False

    def sparse(self, i: int) -> bool:
        """Layer `i` has a mixture-of-experts MLP."""
        return self.experts > 0 and i not in self.mlp_only and (i + 1) % self.sparse_step == 0

    def window(self, i: int) -> int:
        """Sliding-window size of layer `i` (0: full attention)."""
        return self.sliding_window if self.sliding_window and i >= self.window_from_layer else 0

    @property
    def is_decoder(self) -> bool:
        return self.model_type in _DECODERS

    @property
    def vit_tokens(self) -> int:
        return 1 + (self.image_size // self.patch_size) ** 2


def _get(cfg: Mapping[str, Any], key: str, where: str, *, default: Any = None, required: bool = True,
         kind: type = int) -> Any:
    if key not in cfg or cfg[key] is None:
        if required:
            raise InvalidSpecError(f"{where}: missing key {key!r}")
        return default
    v = cfg[key]
    if kind is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise InvalidSpecError(f"{where}: key {key!r} must be an integer, got {v!r}")
        if v < 1:
            raise InvalidSpecError(f"{where}: key {key!r} must be positive, got {v}")
    elif kind is bool:
        if not isinstance(v, bool):
            raise InvalidSpecError(f"{where}: key {key!r} must be true or false, got {v!r}")
    elif kind is str and not isinstance(v, str):
        raise InvalidSpecError(f"{where}: key {key!r} must be a string, got {v!r}")
    return v


def load_config(path_or_dict: str | Path | Mapping[str, Any], name: str | None = None) -> TransformerConfig:
    """Read and validate a HF `config.json` (path or already-parsed dict)."""
    if isinstance(path_or_dict, Mapping):
        raw: Any = dict(path_or_dict)
        where = f"config {name or raw.get('_name_or_path') or '<dict>'}"
    else:
        path = Path(path_or_dict)
        where = f"config file {path}"
        try:
            text = path.read_text()
        except OSError as exc:
            raise InvalidSpecError(f"{where}: cannot read: {exc.strerror or exc}") from None
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidSpecError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if name is None:
            name = path.parent.name if path.name == "config.json" else path.stem
    if not isinstance(raw, dict):
        raise InvalidSpecError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    mt = _get(raw, "model_type", where, kind=str)
    if mt not in SUPPORTED_MODEL_TYPES:
        raise InvalidSpecError(f"{where}: model_type {mt!r} is not supported "
                               f"(supported: {', '.join(SUPPORTED_MODEL_TYPES)})")
    hidden = _get(raw, "hidden_size", where)
    heads = _get(raw, "num_attention_heads", where)
    layers = _get(raw, "num_hidden_layers", where)
    inter = _get(raw, "ffn_dim" if mt == "opt" else "intermediate_size", where)
    kv = _get(raw, "num_key_value_heads", where, default=heads, required=False)
    head_dim = _get(raw, "head_dim", where, default=None, required=False)
    if head_dim is None:
        if hidden % heads:
            raise InvalidSpecError(f"{where}: hidden_size={hidden} is not a multiple of "
                                   f"num_attention_heads={heads}")
        head_dim = hidden // heads
    if heads % kv:
        raise InvalidSpecError(f"{where}: num_attention_heads={heads} is not a multiple of "
                               f"num_key_value_heads={kv}")
    vocab = 0 if mt == "vit" else _get(raw, "vocab_size", where)
    tie_default = mt in ("opt", "bert")
    tie = _get(raw, "tie_word_embeddings", where, default=tie_default, required=False, kind=bool)
    kw: dict[str, Any] = {}
    if mt == "bert":
        kw["type_vocab"] = _get(raw, "type_vocab_size", where, default=2, required=False)
    if mt == "vit":
        kw["image_size"] = _get(raw, "image_size", where)
        kw["patch_size"] = _get(raw, "patch_size", where)
        kw["channels"] = _get(raw, "num_channels", where, default=3, required=False)
        kw["num_labels"] = _get(raw, "num_labels", where, default=1000, required=False)
        if kw["image_size"] % kw["patch_size"]:
            raise InvalidSpecError(f"{where}: image_size={kw['image_size']} is not a multiple of "
                                   f"patch_size={kw['patch_size']}")
    if mt == "opt":
        kw["embed_proj"] = _get(raw, "word_embed_proj_dim", where, default=hidden, required=False)
    kw.update(_moe_and_window(raw, mt, where, layers))
    max_pos_required = mt in ("opt", "bert")
    max_pos = _get(raw, "max_position_embeddings", where, default=0, required=max_pos_required)
    return TransformerConfig(name=name or mt, source=where, model_type=mt, hidden=hidden, intermediate=inter,
                             heads=heads, kv_heads=kv, head_dim=head_dim, layers=layers, vocab=vocab,
                             max_positions=max_pos, tie_embeddings=tie, **kw)


def _moe_and_window(raw: Mapping[str, Any], mt: str, where: str, layers: int) -> dict[str, Any]:
    kw: dict[str, Any] = {"qkv_bias": mt in ("qwen2", "qwen2_moe")}
    if mt == "mixtral":
        kw["experts"] = _get(raw, "num_local_experts", where)
        kw["top_k"] = _get(raw, "num_experts_per_tok", where)
        kw["expert_inter"] = _get(raw, "intermediate_size", where)
    elif mt == "qwen2_moe":
        kw["experts"] = _get(raw, "num_experts", where)
        kw["top_k"] = _get(raw, "num_experts_per_tok", where)
        kw["expert_inter"] = _get(raw, "moe_intermediate_size", where)
        kw["shared_inter"] = _get(raw, "shared_expert_intermediate_size", where, default=0, required=False)
        kw["sparse_step"] = _get(raw, "decoder_sparse_step", where, default=1, required=False)
        only = raw.get("mlp_only_layers") or []
        if not isinstance(only, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in only):
            raise InvalidSpecError(f"{where}: key 'mlp_only_layers' must be a list of layer indices")
        kw["mlp_only"] = tuple(only)
    if kw.get("top_k", 0) > kw.get("experts", 0):
        raise InvalidSpecError(f"{where}: num_experts_per_tok={kw['top_k']} exceeds the "
                               f"{kw['experts']} experts")
    if mt in ("mistral", "mixtral"):
        kw["sliding_window"] = _get(raw, "sliding_window", where, default=0, required=False)
    elif mt in ("qwen2", "qwen2_moe") and _get(raw, "use_sliding_window", where, default=False,
                                                required=False, kind=bool):
        kw["sliding_window"] = _get(raw, "sliding_window", where)
        kw["window_from_layer"] = _get(raw, "max_window_layers", where, default=0, required=False)
    return kw


def _aux_params(c: TransformerConfig) -> int:
    """Biases, norm gains and other non-matrix parameters (as HF's modules hold them)."""
    h, f, L = c.hidden, c.intermediate, c.layers
    q, kv = c.heads * c.head_dim, c.kv_heads * c.head_dim
    if c.model_type in _GATED:
        per = 2 * h + (h + f if c.model_type == "bitnet" else 0)  # BitNet: attn/ffn sub-norms
        per += (q + 2 * kv) if c.qkv_bias else 0
        return L * per + h
    if c.model_type == "opt":
        per = (q + 2 * kv + h) + (f + h) + 2 * 2 * h  # biases + two LayerNorms
        return L * per + 2 * h
    if c.model_type == "phi":
        per = (q + 2 * kv + h) + (f + h) + 2 * h  # biases + one LayerNorm
        return L * per + 2 * h + c.vocab  # final LayerNorm + lm_head bias
    if c.model_type == "bert":
        per = (q + 2 * kv + h) + (f + h) + 2 * 2 * h
        return L * per + 2 * h + h  # embedding LayerNorm, pooler bias
    if c.model_type == "vit":
        per = (q + 2 * kv + h) + (f + h) + 2 * 2 * h
        return L * per + h + h + 2 * h + c.num_labels  # patch bias, class token, final LN, head bias
    raise InvalidSpecError(f"{c.source}: model_type {c.model_type!r} has no parameter rule")


def build_transformer(c: TransformerConfig, phase: str | Phase | None = None, seq_len: int | None = None,
                      batch: int = 1, context_len: int | None = None, name: str | None = None,
                      routing: Sequence[float] | None = None, generate: int | None = None) -> Workload:
    """Workload of one transformer config in a phase (see the module docstring). `routing`:
    a MoE model's tokens-per-expert histogram (default balanced). Phase `generate`: prefill of
    `seq_len` tokens then `generate` decode steps (`models.zoo.generate`)."""
    wname = name or c.name
    ph = _phase(c, phase, wname)
    _check_pos(wname, batch=batch)
    if routing is not None and not c.experts:
        raise InvalidSpecError(f"model {wname}: routing applies to mixture-of-experts models only")
    if ph is Phase.GENERATE:
        from lowbit.models.zoo.generate import build_generation

        return build_generation(lambda **kw: build_transformer(c, name=wname, routing=routing, batch=batch, **kw),
                                wname, seq_len, context_len, generate, batch)
    if generate is not None:
        raise InvalidSpecError(f"model {wname}: generate applies to the generate phase only")
    if ph is Phase.DECODE:
        ctx = context_len if context_len is not None else (seq_len if seq_len is not None else DEFAULT_LLM_SEQ)
        _check_pos(wname, context_len=ctx)
        q_len, kv_len = 1, ctx
    else:
        if context_len is not None:
            raise InvalidSpecError(f"model {wname}: context_len applies to the decode phase only")
        if c.model_type == "vit":
            if seq_len is not None and seq_len != c.vit_tokens:
                raise InvalidSpecError(f"model {wname}: token count is fixed at {c.vit_tokens} by the "
                                       f"{c.image_size}x{c.image_size} image, got seq_len={seq_len}")
            seq = c.vit_tokens
        else:
            seq = seq_len if seq_len is not None else (DEFAULT_LLM_SEQ if c.is_decoder else DEFAULT_ENCODER_SEQ)
        _check_pos(wname, seq_len=seq)
        q_len, kv_len = seq, seq
    if c.model_type in ("opt", "bert") and kv_len > c.max_positions:
        raise InvalidSpecError(f"model {wname}: {kv_len} positions exceed max_position_embeddings="
                               f"{c.max_positions} of its learned position table")
    b = _Blocks(c, batch, q_len, kv_len, routing, wname)
    layers, edges = b.build()
    kv_meta: tuple[tuple[str, object], ...] = ()
    if c.is_decoder:  # the KV cache: K and V of every kv head, per token and layer (GQA: kv_heads)
        cached = sum(min(kv_len, c.window(i)) if c.window(i) else kv_len for i in range(c.layers))
        kv_meta = (("kv_elems_per_token_layer", 2 * c.kv_heads * c.head_dim), ("kv_layers", c.layers),
                   ("kv_cached_tokens", cached))
    meta = (("aux_params", _aux_params(c)), ("idle_params", b.idle),
            ("config", c.source), ("model_type", c.model_type),
            ("context_len", kv_len if ph is Phase.DECODE else 0), *kv_meta)
    return Workload(wname, ph, tuple(layers), tuple(edges), batch=batch,
                    seq_len=kv_len if ph is Phase.DECODE else q_len, meta=meta)


def _check_pos(model: str, **values: int) -> None:
    for key, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int):
            raise InvalidSpecError(f"model {model}: {key} must be an integer, got {v!r}")
        if v < 1:
            raise InvalidSpecError(f"model {model}: {key} must be positive, got {v}")


def _phase(c: TransformerConfig, phase: str | Phase | None, model: str) -> Phase:
    if phase is None:
        return Phase.PREFILL if c.model_type != "vit" else Phase.INFERENCE
    try:
        ph = phase if isinstance(phase, Phase) else Phase(str(phase).lower())
    except ValueError:
        raise InvalidSpecError(f"model {model}: unknown phase {phase!r} "
                               f"(one of {', '.join(p.value for p in Phase)})") from None
    if ph is Phase.GENERATE and not c.is_decoder:
        raise InvalidSpecError(f"model {model}: phase 'generate' needs a decoder LLM, not {c.model_type}")
    if c.is_decoder:
        if ph is Phase.INFERENCE:
            raise InvalidSpecError(f"model {model}: phase 'inference' is not valid for a decoder LLM "
                                   "(use prefill or decode)")
        return ph
    if ph is Phase.DECODE:
        raise InvalidSpecError(f"model {model}: phase 'decode' is not valid for the encoder model "
                               f"({c.model_type}); use prefill or inference")
    return ph


class _Blocks:
    """Accumulates layers and edges; `stream` is the residual stream's producers."""

    def __init__(self, c: TransformerConfig, batch: int, q_len: int, kv_len: int,
                 routing: Sequence[float] | None = None, where: str = "") -> None:
        self.c, self.batch, self.q_len, self.kv_len = c, batch, q_len, kv_len
        self.tokens = batch * q_len
        self.routing, self.where = routing, where or c.name
        self.idle = 0  # weights of experts no token reached
        self.layers: list[Layer] = []
        self.edges: list[tuple[str, str]] = []

    def add(self, layer: Layer, deps: list[str]) -> str:
        self.layers.append(layer)
        for d in dict.fromkeys(deps):
            self.edges.append((d, layer.name))
        return layer.name

    def attention(self, p: str, stream: list[str], i: int) -> str:
        c, T = self.c, self.tokens
        keys = min(self.kv_len, c.window(i)) if c.window(i) else self.kv_len
        qd, kvd = c.heads * c.head_dim, c.kv_heads * c.head_dim
        out_name = "dense" if c.model_type == "phi" else "o_proj"  # HF's module names
        q = self.add(Layer.linear(f"{p}.q_proj", T, c.hidden, qd), stream)
        k = self.add(Layer.linear(f"{p}.k_proj", T, c.hidden, kvd), stream)
        v = self.add(Layer.linear(f"{p}.v_proj", T, c.hidden, kvd), stream)
        # per K/V head: the group's query heads stacked into M (same MACs, K/V read once)
        rows, bkv = self.q_len * (c.heads // c.kv_heads), self.batch * c.kv_heads
        s = self.add(Layer.matmul(f"{p}.attn_score", rows, c.head_dim, keys, bkv), [q, k])
        ctx = self.add(Layer.matmul(f"{p}.attn_context", rows, keys, c.head_dim, bkv), [s, v])
        return self.add(Layer.linear(f"{p}.{out_name}", T, qd, c.hidden), [ctx])

    def gated(self, p: str, names: tuple[str, str, str], tokens: int, inter: int,
              stream: list[str]) -> str:
        h = self.c.hidden
        g = self.add(Layer.linear(f"{p}.{names[0]}", tokens, h, inter), stream)
        u = self.add(Layer.linear(f"{p}.{names[1]}", tokens, h, inter), stream)
        return self.add(Layer.linear(f"{p}.{names[2]}", tokens, inter, h), [g, u])

    def moe(self, p: str, stream: list[str]) -> list[str]:
        c, T = self.c, self.tokens
        mix = c.model_type == "mixtral"
        blk = f"{p}.block_sparse_moe" if mix else f"{p}.mlp"
        names = ("w1", "w3", "w2") if mix else ("gate_proj", "up_proj", "down_proj")
        router = self.add(Layer.linear(f"{blk}.gate", T, c.hidden, c.experts), stream)
        outs = []
        for j, t in enumerate(expert_tokens(c.experts, c.top_k, T, self.routing, f"model {self.where}")):
            if t:
                outs.append(self.gated(f"{blk}.experts.{j}", names, t, c.expert_inter, [*stream, router]))
            else:
                self.idle += 3 * c.hidden * c.expert_inter
        if c.shared_inter:
            outs.append(self.gated(f"{blk}.shared_expert", ("gate_proj", "up_proj", "down_proj"), T,
                                   c.shared_inter, stream))
            outs.append(self.add(Layer.linear(f"{blk}.shared_expert_gate", T, c.hidden, 1), stream))
        return outs

    def mlp(self, p: str, stream: list[str], i: int) -> list[str]:
        c, T = self.c, self.tokens
        if c.sparse(i):
            return self.moe(p, stream)
        if c.model_type in _GATED:
            return [self.gated(p if c.model_type not in _MOE else f"{p}.mlp",
                               ("gate_proj", "up_proj", "down_proj"), T, c.intermediate, stream)]
        f1 = self.add(Layer.linear(f"{p}.fc1", T, c.hidden, c.intermediate), stream)
        return [self.add(Layer.linear(f"{p}.fc2", T, c.intermediate, c.hidden), [f1])]

    def build(self) -> tuple[list[Layer], list[tuple[str, str]]]:
        c, T = self.c, self.tokens
        mt = c.model_type
        # ------------------------------------------------------------ embeddings
        if mt == "vit":
            geom = ConvGeometry(c.channels, c.hidden, c.image_size, c.image_size, c.patch_size, c.patch_size,
                                c.patch_size, c.patch_size)
            pe = self.add(Layer.conv2d("patch_embed", geom, images=self.batch), [])
            pos = self.add(Layer.embedding("embeddings.position", T, c.vit_tokens, c.hidden), [])
            stream = [pe, pos]
        elif mt == "bert":
            w = self.add(Layer.embedding("embeddings.word", T, c.vocab, c.hidden), [])
            pos = self.add(Layer.embedding("embeddings.position", T, c.max_positions, c.hidden), [])
            tt = self.add(Layer.embedding("embeddings.token_type", T, c.type_vocab, c.hidden), [])
            stream = [w, pos, tt]
        elif mt == "opt":
            width = c.embed_proj
            w = self.add(Layer.embedding("embed_tokens", T, c.vocab, width), [])
            pos = self.add(Layer.embedding("embed_positions", T, c.max_positions + 2, c.hidden), [])
            stream = [w, pos]
            if width != c.hidden:
                stream = [self.add(Layer.linear("project_in", T, width, c.hidden), [w]), pos]
        else:
            stream = [self.add(Layer.embedding("embed_tokens", T, c.vocab, c.hidden), [])]
        # ---------------------------------------------------------------- blocks
        for i in range(c.layers):
            p = f"layers.{i}"
            if mt == "phi":  # parallel attention and MLP on one normed input
                o = self.attention(p, stream, i)
                f2 = self.mlp(p, stream, i)
                stream = [*f2, o, stream[0]]
            else:
                o = self.attention(p, stream, i)
                stream = [o, stream[0]]
                d = self.mlp(p, stream, i)
                stream = [*d, o]
        # ---------------------------------------------------------------- heads
        if mt == "bert":
            self.add(Layer.linear("pooler", self.batch, c.hidden, c.hidden), stream)
        elif mt == "vit":
            self.add(Layer.linear("head", self.batch, c.hidden, c.num_labels), stream)
        else:
            k_in = c.hidden
            if mt == "opt" and c.embed_proj != c.hidden:
                stream = [self.add(Layer.linear("project_out", T, c.hidden, c.embed_proj), stream)]
                k_in = c.embed_proj
            tied = "embed_tokens" if c.tie_embeddings else None
            self.add(Layer.linear("lm_head", T, k_in, c.vocab, tied_to=tied), stream)
        return self.layers, self.edges
