"""The one definition of every number format lowbit knows (torch-free).

`Format` is a frozen dataclass. Its string form round-trips through `Format.parse`:

    int4            signed 4-bit integer, one scale per output channel
                    (int1 .. int16 and uint1 .. uint16: every width 1-16, e.g. int9
                    and int12 for bit-serial Stripes/Loom per-layer precisions)
    uint8t          unsigned 8-bit, one scale per tensor ("t" suffix)
    int4g128        signed 4-bit, one scale per group of 128 along K
    int4g128_sfp32  ... with fp32 scales (default scale format is fp16)
    int4g128_spow2  ... with power-of-two (8-bit exponent) scales
    binary, ternary {-1,+1} / {-1,0,+1} codes with a per-channel scale
    fp4 (E2M1), fp6 (E3M2), fp8e4m3, fp8e5m2, fp16, bf16, fpe3m4 (any ExMy)
    nf4             NormalFloat-4 (QLoRA) codebook, per-group or per-channel
    fp3, fp3_er_pos, fp4_ea_neg, ...   BitMoD (HPCA'25) codebook datatypes
    bitmod3, bitmod4                    BitMoD mixture: per group the best of the
                                        four er/ea pos/neg variants (2-bit selector)
    flint4          ANT's flint4 codebook (as in the BitMoD repository)
    i2_s, dbllmg64, pbllm10g128, salient20g128   BitNet I2_S, DB-LLM, PB-LLM and
                    PTQ1.61-style salient-channel formats (see `Format.bits_per_weight`)

This module is the format *descriptor*: parsing, widths, `bits_per_weight`,
code ranges, the NF/BitMoD codebooks (`codebook_values`) and FP value tables as
numpy (`fp_value_table`), and the `list_formats` catalogue. It imports no torch:
the cost path (hwsim, mapper, search, the zoo) reads formats through it alone.
Quantisation and packing (torch tensors) live in `lowbit.kernels_ref.quant`.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from lowbit.kernels_ref.errors import UnsupportedFormatError

if TYPE_CHECKING:  # numpy is imported by the value-table functions only: parsing needs none
    import numpy as np

__all__ = [
    "BITMOD_MIXES",
    "BITMOD_TABLES",
    "GROUP_SIZE_MAX",
    "I2S_TAIL_BYTES",
    "NF4_VALUES",
    "Format",
    "FormatInfo",
    "FormatKind",
    "Granularity",
    "ScaleFormat",
    "code_range",
    "codebook_values",
    "fp_max",
    "fp_value_table",
    "list_formats",
]


class FormatKind(enum.Enum):
    INT = "int"
    UINT = "uint"
    BINARY = "binary"
    TERNARY = "ternary"
    FP = "fp"
    NF = "nf"
    BITMOD = "bitmod"  # a BitMoD codebook datatype; `Format.variant` names it
    DUAL_BINARY = "dbllm"        # DB-LLM: two {0,1} planes with their own scales + offset
    PARTIAL_BINARY = "pbllm"     # PB-LLM: salient weights int8, the rest binary, bitmap
    SALIENT_CHANNEL = "salient"  # PTQ1.61-style: salient input channels int4, the rest binary


class Granularity(enum.Enum):
    TENSOR = "tensor"
    CHANNEL = "channel"
    GROUP = "group"


class ScaleFormat(enum.Enum):
    FP16 = "fp16"
    FP32 = "fp32"
    POW2 = "pow2"  # an 8-bit shared exponent

    @property
    def bits(self) -> int:
        return {ScaleFormat.FP16: 16, ScaleFormat.FP32: 32, ScaleFormat.POW2: 8}[self]


# INT/UINT: every width 1..16 (bit-serial designs such as Stripes and Loom run any
# per-layer precision 1..16; Judd et al., MICRO 2016). Packing handles widths that
# divide neither 8 nor 16 (a code may straddle bytes).
_INT_BITS = frozenset(range(1, 17))
GROUP_SIZE_MAX = 2**20  # elements per scale group
# Named float formats -> (exponent bits, mantissa bits).
_FP_NAMES: dict[str, tuple[int, int]] = {
    "fp4": (2, 1),
    "fp6": (3, 2),
    "fp8e4m3": (4, 3),
    "fp8e5m2": (5, 2),
    "fp16": (5, 10),
    "bf16": (8, 7),
}
_FP_NAME_OF = {v: k for k, v in _FP_NAMES.items()}

# NormalFloat-4 levels: QLoRA (Dettmers et al. 2023), as in bitsandbytes
# `functional.create_normal_map` / the NF4 lookup table in its kernels.
NF4_VALUES: tuple[float, ...] = (
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
)

# BitMoD datatypes, value tables copied from abdelfattah-lab/BitMoD-HPCA-25,
# bitmod_quant/quant_utils/quant_weight.py (INT3/FP3*/FP4*/FLINT4 lists). A code
# is the index into the sorted table. "er" = extra resolution (a special value
# inside the range), "ea" = extra asymmetry (a special value beyond the range),
# pos/neg = on which side the special value sits.
BITMOD_TABLES: dict[str, tuple[float, ...]] = {
    "fp3": (-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0),
    "fp3_er_pos": (-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0),
    "fp3_er_neg": (-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0),
    "fp3_ea_pos": (-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0, 6.0),
    "fp3_ea_neg": (-6.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0),
    "flint4": (-16.0, -8.0, -6.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 16.0),
    "fp4_er_pos": (-12.0, -8.0, -6.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0),
    "fp4_er_neg": (-12.0, -10.0, -8.0, -6.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0),
    "fp4_ea_pos": (-12.0, -8.0, -6.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0),
    "fp4_ea_neg": (-16.0, -12.0, -8.0, -6.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0),
}
# The BitMoD mixtures ("mixed_bitmod" in the repository's `search_datatype`):
# per group, the candidate with the least squared error wins; ties go to the
# earlier entry (the repository updates only on strictly smaller error).
BITMOD_MIXES: dict[str, tuple[str, ...]] = {
    "bitmod3": ("fp3_er_pos", "fp3_er_neg", "fp3_ea_pos", "fp3_ea_neg"),
    "bitmod4": ("fp4_er_pos", "fp4_er_neg", "fp4_ea_pos", "fp4_ea_neg"),
}
_BITMOD_BITS = {name: max(1, math.ceil(math.log2(len(t)))) for name, t in BITMOD_TABLES.items()}
_BITMOD_BITS.update({"bitmod3": 3, "bitmod4": 4})
_RE_BITMOD = re.compile(
    r"^(?P<base>bitmod[34]|flint4|fp3(?:_e[ra]_(?:pos|neg))?|fp4_e[ra]_(?:pos|neg))"
    r"(?:(?P<tensor>t)|g(?P<group>\d+))?"
    r"(?:_s(?P<scale>fp16|fp32|pow2))?$"
)

# Kinds with two codes per group (quantisers in `kernels_ref.quant_binary`) -> widest code;
# BitNet I2_S (bitnet.cpp) keeps its one fp32 scale in a 32-byte tail after the 2-bit codes.
_COMPOSITE_BITS = {"dbllm": 2, "pbllm": 8, "salient": 4}
I2S_TAIL_BYTES = 32

_RE_COMPOSITE = re.compile(
    r"^(?P<base>dbllm|pbllm|salient)(?P<pct>\d{1,2})?"
    r"(?:g(?P<group>\d+))?"
    r"(?:_s(?P<scale>fp16|fp32|pow2))?$"
)

_RE = re.compile(
    r"^(?P<base>[a-z0-9]+?)"
    r"(?:(?P<tensor>t)|g(?P<group>\d+))?"
    r"(?:_s(?P<scale>fp16|fp32|pow2))?$"
)


@dataclass(frozen=True)
class Format:
    """A weight or activation number format.

    `bits` is the storage width of one code (ternary stores 2 bits). For FP,
    `exp_bits + man_bits + 1 == bits`. Unscaled formats (fp16, bf16) have
    `scale is None`.
    """

    kind: FormatKind
    bits: int
    granularity: Granularity = Granularity.CHANNEL
    group_size: int | None = None
    scale: ScaleFormat | None = ScaleFormat.FP16
    exp_bits: int = 0
    man_bits: int = 0
    variant: str | None = None  # BITMOD: a BITMOD_TABLES or BITMOD_MIXES name; TERNARY: "i2_s"
    salient: int | None = None  # PARTIAL_BINARY / SALIENT_CHANNEL: salient percent (1-99)

    def __post_init__(self) -> None:
        k = self.kind
        self._check_composite()
        if k is FormatKind.TERNARY and self.variant == "i2_s":
            if self.granularity is not Granularity.TENSOR or self.scale is not ScaleFormat.FP32:
                raise UnsupportedFormatError("i2_s has one fp32 scale per tensor")
        elif k is FormatKind.BITMOD:
            if self.variant not in _BITMOD_BITS:
                raise UnsupportedFormatError(
                    f"unknown BitMoD datatype {self.variant!r}; known: {', '.join(sorted(_BITMOD_BITS))}")
            if self.bits != _BITMOD_BITS[self.variant]:
                raise UnsupportedFormatError(
                    f"BitMoD {self.variant} is stored in {_BITMOD_BITS[self.variant]} bits, got {self.bits}")
            if self.scale is None:
                raise UnsupportedFormatError(f"BitMoD {self.variant} needs a scale")
        elif self.variant is not None:
            raise UnsupportedFormatError(
                f"variant is only meaningful for BitMoD formats and i2_s, got {self.variant!r}")
        if k in (FormatKind.INT, FormatKind.UINT) and self.bits not in _INT_BITS:
            raise UnsupportedFormatError(f"{k.value} format needs 1-16 bits, got {self.bits}")
        if k is FormatKind.BINARY and self.bits != 1:
            raise UnsupportedFormatError(f"binary format has 1 bit, got {self.bits}")
        if k is FormatKind.TERNARY and self.bits != 2:
            raise UnsupportedFormatError(f"ternary format is stored in 2 bits, got {self.bits}")
        if k is FormatKind.NF and self.bits != 4:
            raise UnsupportedFormatError(f"NF format exists only as nf4, got {self.bits} bits")
        if k is FormatKind.FP and (
                self.exp_bits < 1 or self.man_bits < 0 or self.exp_bits + self.man_bits + 1 != self.bits):
            raise UnsupportedFormatError(
                f"FP format needs 1 + exp_bits + man_bits == bits, got "
                f"e{self.exp_bits}m{self.man_bits} in {self.bits} bits"
            )
        if self.granularity is Granularity.GROUP:
            if self.group_size is None or self.group_size < 1:
                raise UnsupportedFormatError(f"group granularity needs a positive group_size, got {self.group_size}")
            if self.group_size > GROUP_SIZE_MAX:
                raise UnsupportedFormatError(
                    f"group size {str(self.group_size)[:30]} is over the limit {GROUP_SIZE_MAX} "
                    "(2**20: larger than any layer's reduction dimension)")
        elif self.group_size is not None:
            raise UnsupportedFormatError("group_size is only meaningful with group granularity")
        if self.scale is None and self.granularity is not Granularity.TENSOR:
            raise UnsupportedFormatError("an unscaled format must have tensor granularity")

    def _check_composite(self) -> None:
        k = self.kind
        if k.value not in _COMPOSITE_BITS and self.salient is not None:
            raise UnsupportedFormatError("a salient percent is only meaningful for pbllm and salient")
        if k.value not in _COMPOSITE_BITS:
            return
        if self.bits != _COMPOSITE_BITS[k.value] or self.scale is None:
            raise UnsupportedFormatError(f"{k.value} stores {_COMPOSITE_BITS[k.value]}-bit codes with scales")
        if k is FormatKind.DUAL_BINARY:
            if self.salient is not None or self.granularity is Granularity.TENSOR:
                raise UnsupportedFormatError("dbllm fits its scales per group or channel, no salient %")
            return
        if self.granularity is not Granularity.GROUP:
            raise UnsupportedFormatError(f"{k.value} selects its salient part per group: give g<N>")
        if self.salient is None or not 1 <= self.salient <= 99:
            raise UnsupportedFormatError(f"{k.value} needs a salient percent 1-99, got {self.salient}")
        assert self.group_size is not None
        if self.group_size <= GROUP_SIZE_MAX and not 1 <= self.salient_count < self.group_size:
            raise UnsupportedFormatError(
                f"{k.value}{self.salient}g{self.group_size}: round({self.salient}% of {self.group_size}) = "
                f"{self.salient_count} salient per group; need 1 .. {self.group_size - 1}")

    @property
    def salient_count(self) -> int:
        """Salient weights (pbllm) / input channels (salient) per group: round-half-up(% x g)."""
        if self.salient is None or self.group_size is None:
            raise UnsupportedFormatError(f"{self} has no salient part")
        return (self.salient * self.group_size * 2 + 100) // 200

    @property
    def is_composite(self) -> bool:
        """DB-LLM, PB-LLM and salient-channel formats (two codes per group)."""
        return self.kind.value in _COMPOSITE_BITS

    @property
    def fixed_layout(self) -> bool:
        """Granularity and scales are part of the format's definition (i2_s and the composite
        formats): a kernel sees them, so verify keeps them."""
        return self.is_composite or self.variant == "i2_s"

    # ------------------------------------------------------------------ parsing
    @classmethod
    def parse(cls, text: str) -> Format:
        """Parse the string form (see module docstring); raises UnsupportedFormatError."""
        if not isinstance(text, str):
            raise UnsupportedFormatError(f"format must be a string, got {type(text).__name__}")
        s = text.strip().lower()
        if s == "i2_s":
            return cls(FormatKind.TERNARY, 2, Granularity.TENSOR, None, ScaleFormat.FP32, variant="i2_s")
        cm = _RE_COMPOSITE.match(s)
        if cm:
            base, pct, group, scale = cm.group("base", "pct", "group", "scale")
            if (base == "dbllm") != (pct is None):
                raise UnsupportedFormatError(
                    f"unknown format {text!r}: pbllm and salient take a percent (pbllm10g128), dbllm none")
            try:
                return cls(FormatKind(base), _COMPOSITE_BITS[base],
                           Granularity.GROUP if group is not None else Granularity.CHANNEL,
                           int(group) if group is not None else None,
                           ScaleFormat(scale) if scale else ScaleFormat.FP16,
                           salient=int(pct) if pct is not None else None)
            except UnsupportedFormatError as exc:
                raise UnsupportedFormatError(f"unknown format {text!r}: {exc}") from None
        bm = _RE_BITMOD.match(s)
        if bm:
            variant = bm.group("base")
            group, tensor, scale = bm.group("group"), bm.group("tensor"), bm.group("scale")
            gran = Granularity.GROUP if group is not None else (
                Granularity.TENSOR if tensor else Granularity.CHANNEL)
            try:
                return cls(FormatKind.BITMOD, _BITMOD_BITS[variant], gran,
                           int(group) if group is not None else None,
                           ScaleFormat(scale) if scale else ScaleFormat.FP16, variant=variant)
            except UnsupportedFormatError as exc:
                raise UnsupportedFormatError(f"unknown format {text!r}: {exc}") from None
        m = _RE.match(s)
        if not m:
            raise UnsupportedFormatError(f"unknown format {text!r}")
        base, tensor, group, scale = m.group("base"), m.group("tensor"), m.group("group"), m.group("scale")
        if group is not None:
            gran, gsize = Granularity.GROUP, int(group)
            if gsize < 1:
                raise UnsupportedFormatError(f"group size must be positive in {text!r}")
        elif tensor:
            gran, gsize = Granularity.TENSOR, None
        else:
            gran, gsize = Granularity.CHANNEL, None
        sfmt = ScaleFormat(scale) if scale else ScaleFormat.FP16
        try:
            if base in ("fp16", "bf16"):
                if group is not None or tensor or scale:
                    raise UnsupportedFormatError(f"{base} is unscaled; {text!r} adds a scale")
                e, mb = _FP_NAMES[base]
                return cls(FormatKind.FP, 1 + e + mb, Granularity.TENSOR, None, None, e, mb)
            if base in _FP_NAMES:
                e, mb = _FP_NAMES[base]
                return cls(FormatKind.FP, 1 + e + mb, gran, gsize, sfmt, e, mb)
            fm = re.fullmatch(r"fpe(\d+)m(\d+)", base)
            if fm:
                e, mb = int(fm.group(1)), int(fm.group(2))
                return cls(FormatKind.FP, 1 + e + mb, gran, gsize, sfmt, e, mb)
            im = re.fullmatch(r"(u?int)(\d+)", base)
            if im:
                kind = FormatKind.UINT if im.group(1) == "uint" else FormatKind.INT
                return cls(kind, int(im.group(2)), gran, gsize, sfmt)
            if base == "binary":
                return cls(FormatKind.BINARY, 1, gran, gsize, sfmt)
            if base == "ternary":
                return cls(FormatKind.TERNARY, 2, gran, gsize, sfmt)
            if base == "nf4":
                return cls(FormatKind.NF, 4, gran, gsize, sfmt)
        except UnsupportedFormatError as exc:
            raise UnsupportedFormatError(f"unknown format {text!r}: {exc}") from None
        raise UnsupportedFormatError(f"unknown format {text!r}")

    def __str__(self) -> str:
        k = self.kind
        if k is FormatKind.FP:
            if self.scale is None and (self.exp_bits, self.man_bits) in ((5, 10), (8, 7)):
                return _FP_NAME_OF[(self.exp_bits, self.man_bits)]
            name = _FP_NAME_OF.get((self.exp_bits, self.man_bits))
            if name in (None, "fp16", "bf16"):  # a scaled E5M10 / E8M7 keeps the generic name
                name = f"fpe{self.exp_bits}m{self.man_bits}"
            base = name
        elif k in (FormatKind.INT, FormatKind.UINT):
            base = f"{k.value}{self.bits}"
        elif k is FormatKind.NF:
            base = "nf4"
        elif k is FormatKind.BITMOD:
            assert self.variant is not None
            base = self.variant
        elif self.variant == "i2_s":
            return "i2_s"
        elif self.salient is not None:
            base = f"{k.value}{self.salient}"
        else:
            base = k.value
        if self.granularity is Granularity.GROUP:
            base += f"g{self.group_size}"
        elif self.granularity is Granularity.TENSOR:
            base += "t"
        if self.scale is not None and self.scale is not ScaleFormat.FP16:
            base += f"_s{self.scale.value}"
        return base

    # ---------------------------------------------------------------- derived
    @cached_property
    def bits_per_weight(self) -> float:
        """Storage bits per element including the amortised scale of its group.

        Per-channel and per-tensor scales are amortised over a whole row or
        tensor, which this property cannot see; use `storage_bits(k)` for the
        exact figure. int4g128 with fp16 scales: 4 + 16/128 = 4.125.

        Per group of g (k = `salient_count`, s = scale bits): dbllm 2 + 3s/g (alpha1, alpha2,
        beta); pbllm (g bitmap + (g-k) signs + 8k + 2s)/g; salient (4k + (g-k) signs + 2s)/g,
        whose K-bit channel mask is per matrix (1/N per weight: `storage_bits` counts it);
        i2_s 2 (and a 32-byte tail per tensor).
        """
        if self.is_composite and self.granularity is Granularity.GROUP:
            return self._group_bits() / self.group_size  # type: ignore[operator]
        if self.granularity is Granularity.GROUP and self.scale is not None:
            assert self.group_size is not None
            return self.bits + (self.scale.bits + self.meta_bits_per_group) / self.group_size
        return float(self.bits)

    @property
    def meta_bits_per_group(self) -> int:
        """Datatype-selector bits stored with each scale (BitMoD mixtures: 2 bits
        choose one of the four er/ea pos/neg variants; 0 otherwise)."""
        if self.kind is FormatKind.BITMOD and self.variant in BITMOD_MIXES:
            return math.ceil(math.log2(len(BITMOD_MIXES[self.variant])))
        return 0

    def _group_bits(self) -> int:
        """Bits of one group of one column of a composite format (codes, bitmap, scales)."""
        g, s = self.group_size or 0, self.scale.bits  # type: ignore[union-attr]
        if self.kind is FormatKind.DUAL_BINARY:
            return 2 * g + 3 * s
        kc = self.salient_count  # pbllm: bitmap + signs + int8; salient: int4 + signs
        return g + (g - kc) + 8 * kc + 2 * s if self.kind is FormatKind.PARTIAL_BINARY else 4 * kc + (g - kc) + 2 * s

    def storage_bits(self, k: int, n: int = 1) -> float:
        """Exact bits to store an n x k matrix (k = reduction dim) including scales
        (and i2_s's tail, the salient-channel mask)."""
        if self.variant == "i2_s":
            return float(2 * k * n + 8 * I2S_TAIL_BYTES)
        if self.is_composite and self.granularity is Granularity.CHANNEL:  # dbllm: 3 scales/column
            return float((2 * k + 3 * self.scale.bits) * n)  # type: ignore[union-attr]
        if self.is_composite:
            assert self.group_size is not None
            if k % self.group_size:
                raise UnsupportedFormatError(f"group size {self.group_size} of {self} does not divide K={k}")
            mask = k if self.kind is FormatKind.SALIENT_CHANNEL else 0
            return float(self._group_bits() * (k // self.group_size) * n + mask)
        codes = self.bits * k * n
        if self.scale is None:
            return float(codes)
        if self.granularity is Granularity.GROUP:
            assert self.group_size is not None
            scales = -(-k // self.group_size) * n
        elif self.granularity is Granularity.CHANNEL:
            scales = n
        else:
            scales = 1
        return float(codes + scales * (self.scale.bits + self.meta_bits_per_group))

    @property
    def is_float(self) -> bool:
        return self.kind is FormatKind.FP

    @property
    def is_signed(self) -> bool:
        return self.kind is not FormatKind.UINT

    @property
    def qmin(self) -> int:
        """Smallest integer code (INT/UINT/BINARY/TERNARY)."""
        if self.kind is FormatKind.INT:
            return -(1 << (self.bits - 1))
        if self.kind is FormatKind.UINT:
            return 0
        if self.kind in (FormatKind.BINARY, FormatKind.TERNARY):
            return -1
        return self._no_int()

    @property
    def qmax(self) -> int:
        """Largest integer code (INT/UINT/BINARY/TERNARY)."""
        if self.kind is FormatKind.INT:
            return (1 << (self.bits - 1)) - 1
        if self.kind is FormatKind.UINT:
            return (1 << self.bits) - 1
        if self.kind in (FormatKind.BINARY, FormatKind.TERNARY):
            return 1
        return self._no_int()

    def _no_int(self) -> int:
        raise UnsupportedFormatError(f"{self} has no integer code range")

    @property
    def is_integer(self) -> bool:
        """True for the kinds whose codes are the integer values themselves."""
        return self.kind in (FormatKind.INT, FormatKind.UINT, FormatKind.BINARY, FormatKind.TERNARY)


# ====================================================================== values
def code_range(fmt: Format) -> tuple[int, int]:
    """Inclusive (lowest, highest) code of `fmt`.

    INT/UINT/BINARY/TERNARY codes are the integer values (binary codes are -1
    and +1 only). FP codes are the unsigned bit patterns (sign | exponent |
    mantissa). NF4 and BitMoD codes are unsigned indices into the sorted table.
    """
    if fmt.is_integer:
        return fmt.qmin, fmt.qmax
    if fmt.kind is FormatKind.FP:
        return 0, (1 << fmt.bits) - 1
    return 0, len(codebook_values(fmt)) - 1


def codebook_values(fmt: Format) -> tuple[float, ...]:
    """Sorted value table of a codebook format (NF4, a single BitMoD datatype)."""
    if fmt.kind is FormatKind.NF:
        return NF4_VALUES
    if fmt.kind is FormatKind.BITMOD:
        assert fmt.variant is not None
        if fmt.variant in BITMOD_MIXES:
            # the mixture's codes index the selected variant; all four have 2^bits entries
            return BITMOD_TABLES[BITMOD_MIXES[fmt.variant][0]]
        return BITMOD_TABLES[fmt.variant]
    raise UnsupportedFormatError(f"{fmt} is not a codebook format")


def _fp_special(e: int, m: int) -> str:
    """Special-value convention of an ExMy format.

    "ieee": the all-ones exponent holds inf/NaN (fp16, bf16, fp8e5m2).
    "fn":   only S.1111.111 is NaN, no inf (fp8e4m3, OCP "E4M3FN").
    "finite": every pattern is a finite number (fp4 E2M1 and fp6 E3M2 as in
            the OCP MX spec; also every other fpeXmY).
    """
    if (e, m) in ((5, 10), (8, 7), (5, 2)):
        return "ieee"
    if (e, m) == (4, 3):
        return "fn"
    return "finite"


def fp_value_table(fmt: Format) -> np.ndarray:
    """float64 value of every code 0 .. 2^bits-1 of an FP format (NaN/inf where reserved)."""
    if fmt.kind is not FormatKind.FP:
        raise UnsupportedFormatError(f"{fmt} is not a floating-point format")
    e, m = fmt.exp_bits, fmt.man_bits
    if fmt.bits > 16:
        raise UnsupportedFormatError(f"{fmt}: FP value tables are built up to 16 bits")
    import numpy as np

    codes = np.arange(1 << fmt.bits, dtype=np.int64)
    sign = np.where((codes >> (e + m)) & 1 == 1, -1.0, 1.0)
    ex = (codes >> m) & ((1 << e) - 1)
    man = (codes & ((1 << m) - 1)).astype(np.float64)
    bias = (1 << (e - 1)) - 1
    sub = man * 2.0 ** (1 - bias - m)
    with np.errstate(over="ignore"):  # wide exponents (e.g. fpe15m0) overflow to inf, as in IEEE
        norm = (1.0 + man / (1 << m)) * np.power(2.0, (ex - bias).astype(np.float64))
    val = sign * np.where(ex == 0, sub, norm)
    rule = _fp_special(e, m)
    top = ex == (1 << e) - 1
    if rule == "ieee":
        val = np.where(top & (man == 0), sign * math.inf, val)
        val = np.where(top & (man != 0), math.nan, val)
    elif rule == "fn":
        val = np.where(top & (man == (1 << m) - 1), math.nan, val)
    return val


def fp_max(fmt: Format) -> float:
    """Largest finite value of an FP format."""
    import numpy as np

    v = fp_value_table(fmt)
    return float(v[np.isfinite(v)].max())


# ===================================================================== catalog
@dataclass(frozen=True)
class FormatInfo:
    """One canonical example format for `lowbit formats list`."""

    name: str
    fmt: Format
    notes: str


_CATALOG: tuple[tuple[str, str], ...] = (
    ("int8", "signed 8-bit, per-channel scale"),
    ("int8t", "signed 8-bit, per-tensor scale (activations)"),
    ("uint8", "unsigned 8-bit with zero point"),
    ("int4", "signed 4-bit, per-channel"),
    ("int4g128", "signed 4-bit, fp16 scale per 128 along K"),
    ("int4g128_spow2", "power-of-two (8-bit exponent) scales"),
    ("int3g128", "signed 3-bit, group 128"),
    ("int2g64", "signed 2-bit, group 64"),
    ("int1", "two's complement {-1, 0}"),
    ("int12", "signed 12-bit; every INT/UINT width 1-16 exists (bit-serial precisions)"),
    ("binary", "{-1,+1} codes, mean-|w| scale (XNOR-Net)"),
    ("ternary", "{-1,0,+1} in 2 bits, absmean scale (BitNet b1.58)"),
    ("fp4g32", "E2M1 (OCP MX), no inf/NaN"),
    ("fp6g32", "E3M2 (OCP MX), no inf/NaN"),
    ("fp8e4m3", "E4M3 'fn': no infinities, one not-a-number code, max 448"),
    ("fp8e5m2", "E5M2 IEEE-style, max 57344"),
    ("fp16", "IEEE half, unscaled"),
    ("bf16", "bfloat16, unscaled"),
    ("nf4g64", "NormalFloat-4 codebook (QLoRA)"),
    ("fp3g128", "BitMoD FP3 {0,±1,±2,±4}"),
    ("fp3_er_posg128", "BitMoD FP3 + extra resolution value +3"),
    ("fp4_ea_negg128", "BitMoD FP4 + extra asymmetry value -16"),
    ("bitmod3g128", "BitMoD 3-bit mixture (2-bit selector per group)"),
    ("bitmod4g128", "BitMoD 4-bit mixture (2-bit selector per group)"),
    ("flint4g128", "ANT flint4 codebook"),
    ("i2_s", "BitNet b1.58 ternary, bitnet.cpp I2_S bytes, fp32 scale per tensor"),
    ("dbllmg64", "DB-LLM dual binary a1*b1 + a2*b2 + beta, fitted per group of 64"),
    ("pbllm10g128", "PB-LLM: top 13 of 128 |w| per group in int8 (bitmap), rest binary"),
    ("salient20g128", "PTQ1.61-style: 26 of 128 input channels int4 (mask), rest binary"),
)


def list_formats() -> tuple[FormatInfo, ...]:
    """The canonical example formats with notes (built on call)."""
    return tuple(FormatInfo(name, Format.parse(name), note) for name, note in _CATALOG)
