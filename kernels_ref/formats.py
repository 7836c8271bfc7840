"""The one definition of every number format lowbit knows.

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

Quantisation, packing and the FP/NF/BitMoD codebooks live in this module too:
`quantize`, `dequantize`, `pack`, `unpack`, `fp_encode`, `fp_decode`,
`codebook_values`, `list_formats` (see their docstrings).
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError

__all__ = [
    "BITMOD_MIXES",
    "BITMOD_TABLES",
    "NF4_VALUES",
    "Format",
    "FormatInfo",
    "FormatKind",
    "Granularity",
    "QTensor",
    "ScaleFormat",
    "code_range",
    "codebook_values",
    "dequantize",
    "fp_decode",
    "fp_encode",
    "fp_values",
    "list_formats",
    "pack",
    "quantize",
    "round_scale",
    "unpack",
]


class FormatKind(enum.Enum):
    INT = "int"
    UINT = "uint"
    BINARY = "binary"
    TERNARY = "ternary"
    FP = "fp"
    NF = "nf"
    BITMOD = "bitmod"  # a BitMoD codebook datatype; `Format.variant` names it


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
    variant: str | None = None  # BITMOD only: a BITMOD_TABLES or BITMOD_MIXES name

    def __post_init__(self) -> None:
        k = self.kind
        if k is FormatKind.BITMOD:
            if self.variant not in _BITMOD_BITS:
                raise UnsupportedFormatError(
                    f"unknown BitMoD datatype {self.variant!r}; known: {', '.join(sorted(_BITMOD_BITS))}")
            if self.bits != _BITMOD_BITS[self.variant]:
                raise UnsupportedFormatError(
                    f"BitMoD {self.variant} is stored in {_BITMOD_BITS[self.variant]} bits, got {self.bits}")
            if self.scale is None:
                raise UnsupportedFormatError(f"BitMoD {self.variant} needs a scale")
        elif self.variant is not None:
            raise UnsupportedFormatError(f"variant is only meaningful for BitMoD formats, got {self.variant!r}")
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
        elif self.group_size is not None:
            raise UnsupportedFormatError("group_size is only meaningful with group granularity")
        if self.scale is None and self.granularity is not Granularity.TENSOR:
            raise UnsupportedFormatError("an unscaled format must have tensor granularity")

    # ------------------------------------------------------------------ parsing
    @classmethod
    def parse(cls, text: str) -> Format:
        """Parse the string form (see module docstring); raises UnsupportedFormatError."""
        if not isinstance(text, str):
            raise UnsupportedFormatError(f"format must be a string, got {type(text).__name__}")
        s = text.strip().lower()
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
        """
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

    def storage_bits(self, k: int, n: int = 1) -> float:
        """Exact bits to store an n x k matrix (k = reduction dim) including scales."""
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


def fp_values(fmt: Format) -> torch.Tensor:
    """float64 value of every code 0 .. 2^bits-1 of an FP format (NaN/inf where reserved)."""
    if fmt.kind is not FormatKind.FP:
        raise UnsupportedFormatError(f"{fmt} is not a floating-point format")
    e, m = fmt.exp_bits, fmt.man_bits
    if fmt.bits > 16:
        raise UnsupportedFormatError(f"{fmt}: FP value tables are built up to 16 bits")
    codes = torch.arange(1 << fmt.bits, dtype=torch.int64)
    sign = torch.where((codes >> (e + m)) & 1 == 1, -1.0, 1.0).double()
    ex = (codes >> m) & ((1 << e) - 1)
    man = (codes & ((1 << m) - 1)).double()
    bias = (1 << (e - 1)) - 1
    sub = man * 2.0 ** (1 - bias - m)
    norm = (1.0 + man / (1 << m)) * torch.pow(2.0, (ex - bias).double())
    val = sign * torch.where(ex == 0, sub, norm)
    rule = _fp_special(e, m)
    top = ex == (1 << e) - 1
    if rule == "ieee":
        val = torch.where(top & (man == 0), sign * math.inf, val)
        val = torch.where(top & (man != 0), math.nan, val)
    elif rule == "fn":
        val = torch.where(top & (man == (1 << m) - 1), math.nan, val)
    return val


def _fp_max(fmt: Format) -> float:
    v = fp_values(fmt)
    return float(v[torch.isfinite(v)].max())


def fp_encode(x: torch.Tensor, fmt: Format) -> torch.Tensor:
    """Encode real values to the bit patterns of an FP format (int64 codes).

    Rounds to nearest, ties to even (even mantissa LSB); magnitudes beyond the
    largest finite value saturate to it (no inf is produced from finite input).
    NaN or inf input raises UnsupportedFormatError.
    """
    if fmt.kind is not FormatKind.FP:
        raise UnsupportedFormatError(f"{fmt} is not a floating-point format")
    x = torch.as_tensor(x)
    if not bool(torch.isfinite(x).all()):
        raise UnsupportedFormatError(f"cannot encode NaN or inf values in {fmt}")
    e, m = fmt.exp_bits, fmt.man_bits
    if (e, m) in ((5, 10), (8, 7)):
        dt = torch.float16 if (e, m) == (5, 10) else torch.bfloat16
        fmax = torch.finfo(dt).max
        xc = x.double().clamp(-fmax, fmax)  # saturate, as for the table formats
        return xc.to(dt).view(torch.int16).to(torch.int64) & 0xFFFF
    vals = fp_values(fmt)
    half = 1 << (fmt.bits - 1)
    pos = vals[:half]  # non-negative codes 0 .. half-1, increasing in code
    keep = torch.isfinite(pos)
    pos_codes = torch.arange(half, dtype=torch.int64)[keep]
    pos = pos[keep]
    a = x.double().abs().reshape(-1)
    hi = torch.searchsorted(pos, a).clamp(max=len(pos) - 1)
    lo = (hi - 1).clamp(min=0)
    dlo, dhi = (a - pos[lo]).abs(), (pos[hi] - a).abs()
    pick_hi = (dhi < dlo) | ((dhi == dlo) & (pos_codes[hi] % 2 == 0))
    mag = torch.where(pick_hi, pos_codes[hi], pos_codes[lo])
    sign = torch.signbit(x.reshape(-1)).to(torch.int64) << (fmt.bits - 1)
    return (sign | mag).reshape(x.shape)


def fp_decode(codes: torch.Tensor, fmt: Format) -> torch.Tensor:
    """Values (float64) of FP bit-pattern codes."""
    codes = torch.as_tensor(codes, dtype=torch.int64)
    return fp_values(fmt)[codes]


# ================================================================ quantisation
@dataclass(frozen=True)
class QTensor:
    """A quantised tensor.

    `codes` has the input's shape (int64). Along the reduction axis `axis`, the
    tensor is cut into G groups (G = K/g per-group, 1 per-channel); `scales` has
    shape [G, *rest] where rest is the input's shape without `axis` (all ones for
    per-tensor). `zero` (UINT only, asymmetric) has the shape of `scales`.
    `variants` (BitMoD mixtures) holds per group the index into
    BITMOD_MIXES[fmt.variant] of the chosen datatype.
    """

    codes: torch.Tensor
    scales: torch.Tensor | None
    zero: torch.Tensor | None
    fmt: Format
    axis: int = 0
    variants: torch.Tensor | None = None


def round_scale(scale: torch.Tensor, sfmt: ScaleFormat) -> torch.Tensor:
    """Round positive scales UP to the nearest value of `sfmt` (float64 result).

    Rounding up keeps |x| / scale within the code range, so the round-trip bound
    of half a step holds with the stored scale. pow2 gives 2^ceil(log2 s).
    """
    s = scale.double()
    if sfmt is ScaleFormat.POW2:
        out = torch.pow(2.0, torch.ceil(torch.log2(s)))
        if bool(((out < 2.0 ** -127) | (out > 2.0 ** 127)).any()):
            raise UnsupportedFormatError("a scale is outside the 8-bit power-of-two exponent range 2^-127..2^127")
        return out
    if sfmt is ScaleFormat.FP16:
        dt, it = torch.float16, torch.int16
    elif sfmt is ScaleFormat.FP32:
        dt, it = torch.float32, torch.int32
    else:
        raise UnsupportedFormatError(f"unknown scale format {sfmt!r}")
    h = s.to(dt)
    low = h.double() < s
    up = (h.view(it) + 1).view(dt)  # next representable value above a positive h
    h = torch.where(low, up, h)
    if not bool(torch.isfinite(h).all()):
        raise UnsupportedFormatError(f"a scale of {float(s.max()):.4g} overflows {sfmt.value}")
    return h.double()


def _grouped(x: torch.Tensor, fmt: Format, axis: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Move `axis` first and cut it into groups: [G, g, *rest]."""
    if x.ndim == 0:
        raise InvalidSpecError("cannot quantise a 0-dimensional tensor")
    if not -x.ndim <= axis < x.ndim:
        raise InvalidSpecError(f"axis {axis} out of range for a {x.ndim}-d tensor")
    t = x.movedim(axis, 0)
    k = t.shape[0]
    rest = tuple(t.shape[1:])
    if fmt.granularity is Granularity.GROUP:
        g = fmt.group_size
        assert g is not None
        if k % g:
            raise UnsupportedFormatError(
                f"group size {g} of {fmt} does not divide K={k} (the reduction dimension)")
        return t.reshape(k // g, g, *rest), rest
    return t.reshape(1, k, *rest), rest


def _absmax(t: torch.Tensor, fmt: Format) -> torch.Tensor:
    """Per-group |max| of a grouped tensor [G, g, *rest] -> [G, *rest]."""
    a = t.abs().amax(dim=1)
    if fmt.granularity is Granularity.TENSOR:
        a = a.amax().reshape([1] * a.ndim)
    return a


def _codebook_nearest(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Index of the nearest table entry; a tie goes to the lower value (as the
    BitMoD repository's `x <= mid` comparisons do)."""
    mids = (table[1:] + table[:-1]) / 2
    return torch.searchsorted(mids, x.contiguous(), right=False)


def quantize(tensor: torch.Tensor, fmt: Format | str, axis: int = 0) -> QTensor:
    """Quantise `tensor` to `fmt`; `axis` is the reduction dimension (K).

    For a weight [K, N]: per-channel = one scale per column n, per-group = one
    scale per g consecutive elements along K, per-tensor = one scale.
    Scales are rounded up to the format's scale format (`round_scale`).

    - INT b (b >= 2): symmetric, scale = absmax / (2^(b-1)-1), codes
      round-half-even(x/scale); |x - dequant| <= scale/2. INT1 has codes {-1, 0}
      (two's complement), scale = absmax: only negative values are represented.
    - UINT b: asymmetric over [min(x,0), max(x,0)], scale = range/(2^b-1), zero
      point round(-min/scale); |x - dequant| <= scale/2.
    - BINARY: codes sign(x) (0 -> +1), scale = mean |x| (XNOR-Net).
    - TERNARY: scale = mean |x| (BitNet b1.58 absmean), codes round(x/scale)
      clipped to [-1, 1]; |x - dequant| <= max(scale/2, |x| - scale).
    - FP ExMy: scale = absmax / largest finite value, codes = bit patterns of
      x/scale rounded to nearest even: |x - dequant| <= scale * half an ULP at
      |x/scale| (relative 2^-(m+1), absolute 2^(-bias-m) in the subnormal range).
      fp16/bf16 are unscaled casts.
    - NF4 / BitMoD: scale = absmax / max|table|, nearest table entry (ties to the
      lower value); mixtures pick per group the variant of least squared error.
      Differences from the BitMoD repository's `quant_datatype`: it computes in
      fp16 and clamps the scale to [1e-5, 1e4]; here values are float64 and the
      scale is rounded up to the scale format (so a value within rounding
      distance of a midpoint may pick the other neighbour than the repository).
    """
    fmt = Format.parse(fmt) if isinstance(fmt, str) else fmt
    x = torch.as_tensor(tensor)
    if not x.is_floating_point():
        x = x.double()
    if not bool(torch.isfinite(x).all()):
        raise InvalidSpecError("cannot quantise a tensor holding NaN or inf")
    x = x.double()
    if fmt.kind is FormatKind.FP and fmt.scale is None:
        return QTensor(fp_encode(x, fmt), None, None, fmt, axis)
    t, rest = _grouped(x, fmt, axis)
    assert fmt.scale is not None
    kind = fmt.kind
    zero = None
    variants = None
    tiny = torch.finfo(torch.float32).tiny

    if kind is FormatKind.INT:
        qmax = max(fmt.qmax, 1)
        s = round_scale((_absmax(t, fmt) / qmax).clamp(min=tiny), fmt.scale)
        codes = torch.round(t / s.unsqueeze(1)).clamp(fmt.qmin, fmt.qmax)
    elif kind is FormatKind.UINT:
        lo = t.clamp(max=0).amin(dim=1)
        hi = t.clamp(min=0).amax(dim=1)
        if fmt.granularity is Granularity.TENSOR:
            lo, hi = lo.amin().reshape([1] * lo.ndim), hi.amax().reshape([1] * hi.ndim)
        s = round_scale(((hi - lo) / fmt.qmax).clamp(min=tiny), fmt.scale)
        zero = torch.round(-lo / s).clamp(0, fmt.qmax)
        codes = (torch.round(t / s.unsqueeze(1)) + zero.unsqueeze(1)).clamp(0, fmt.qmax)
    elif kind in (FormatKind.BINARY, FormatKind.TERNARY):
        mean_abs = t.abs().mean(dim=1)
        if fmt.granularity is Granularity.TENSOR:
            mean_abs = t.abs().mean().reshape([1] * mean_abs.ndim)
        s = round_scale(mean_abs.clamp(min=tiny), fmt.scale)
        if kind is FormatKind.BINARY:
            codes = torch.where(t >= 0, 1.0, -1.0)
        else:
            codes = torch.round(t / s.unsqueeze(1)).clamp(-1, 1)
    elif kind is FormatKind.FP:
        s = round_scale((_absmax(t, fmt) / _fp_max(fmt)).clamp(min=tiny), fmt.scale)
        codes = fp_encode(t / s.unsqueeze(1), fmt)
    elif kind is FormatKind.NF or (kind is FormatKind.BITMOD and fmt.variant not in BITMOD_MIXES):
        table = torch.tensor(codebook_values(fmt), dtype=torch.float64)
        s = round_scale((_absmax(t, fmt) / table.abs().max()).clamp(min=tiny), fmt.scale)
        codes = _codebook_nearest(t / s.unsqueeze(1), table)
    elif kind is FormatKind.BITMOD:
        names = BITMOD_MIXES[fmt.variant]  # type: ignore[index]
        best_err = best_codes = best_s = variants = None
        for vi, name in enumerate(names):
            table = torch.tensor(BITMOD_TABLES[name], dtype=torch.float64)
            sv = round_scale((_absmax(t, fmt) / table.abs().max()).clamp(min=tiny), fmt.scale)
            cv = _codebook_nearest(t / sv.unsqueeze(1), table)
            err = (table[cv] * sv.unsqueeze(1) - t).pow(2).mean(dim=1)
            if fmt.granularity is Granularity.TENSOR:
                err = err.mean().reshape([1] * err.ndim)
            if best_err is None:
                best_err, best_codes, best_s = err, cv, sv
                variants = torch.zeros(err.shape, dtype=torch.int64)
            else:
                upd = err < best_err
                best_err = torch.where(upd, err, best_err)
                best_s = torch.where(upd, sv, best_s)
                best_codes = torch.where(upd.unsqueeze(1), cv, best_codes)
                variants = torch.where(upd, vi, variants)
        codes, s = best_codes, best_s
    else:
        raise UnsupportedFormatError(f"quantize does not know format kind {kind}")
    codes = codes.to(torch.int64).reshape(-1, *rest).movedim(0, axis)
    return QTensor(codes, s, zero, fmt, axis, variants)


def dequantize(qt: QTensor) -> torch.Tensor:
    """Real values (float64) of a QTensor."""
    fmt = qt.fmt
    if fmt.kind is FormatKind.FP and fmt.scale is None:
        return fp_decode(qt.codes, fmt)
    if qt.scales is None:
        raise InvalidSpecError(f"QTensor of {fmt} has no scales")
    c = qt.codes.movedim(qt.axis, 0)
    k, rest = c.shape[0], tuple(c.shape[1:])
    groups = qt.scales.shape[0]
    c = c.reshape(groups, k // groups, *rest)
    kind = fmt.kind
    if fmt.is_integer:
        v = c.double()
        if qt.zero is not None:
            v = v - qt.zero.unsqueeze(1)
    elif kind is FormatKind.FP:
        v = fp_decode(c, fmt)
    elif kind is FormatKind.BITMOD and fmt.variant in BITMOD_MIXES:
        if qt.variants is None:
            raise InvalidSpecError(f"QTensor of {fmt} lacks its per-group variants")
        tables = torch.tensor([BITMOD_TABLES[n] for n in BITMOD_MIXES[fmt.variant]], dtype=torch.float64)
        var = qt.variants.unsqueeze(1).expand_as(c)
        v = tables[var, c]
    elif kind in (FormatKind.NF, FormatKind.BITMOD):
        v = torch.tensor(codebook_values(fmt), dtype=torch.float64)[c]
    else:
        raise UnsupportedFormatError(f"dequantize does not know format kind {kind}")
    v = v * qt.scales.double().unsqueeze(1)
    return v.reshape(k, *rest).movedim(0, qt.axis)


# ===================================================================== packing
def pack(codes: torch.Tensor, fmt: Format | str) -> bytes:
    """Pack codes into bytes, `fmt.bits` bits each, little-endian bit order.

    Code i (in row-major order) occupies stream bits [i*b, (i+1)*b), least
    significant bit first; stream bit j is bit (j % 8) of byte j // 8. A code is
    stored as its low b bits: two's complement for INT and TERNARY
    (-1 -> 0b11), the bit pattern for FP, the index for NF/BitMoD, and for
    BINARY bit 1 for +1 and bit 0 for -1. The last byte is zero-padded.
    """
    fmt = Format.parse(fmt) if isinstance(fmt, str) else fmt
    c = torch.as_tensor(codes).reshape(-1).to(torch.int64)
    lo, hi = code_range(fmt)
    if c.numel() and (int(c.min()) < lo or int(c.max()) > hi):
        raise InvalidSpecError(f"codes outside {fmt}'s range [{lo}, {hi}]: min {int(c.min())}, max {int(c.max())}")
    if fmt.kind is FormatKind.BINARY:
        if bool((c == 0).any()):
            raise InvalidSpecError("binary codes must be -1 or +1, found 0")
        c = (c > 0).to(torch.int64)
    b = fmt.bits
    u = (c.cpu().numpy() & ((1 << b) - 1)).astype(np.uint8 if b <= 8 else np.uint16)
    bits = np.empty((u.size, b), dtype=np.uint8)
    for j in range(b):  # one pass per bit position, never an [n, b] int64 temporary
        bits[:, j] = (u >> j) & 1
    return np.packbits(bits.reshape(-1), bitorder="little").tobytes()


def unpack(data: bytes, fmt: Format | str, shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """Inverse of `pack`: int64 codes of `shape`."""
    fmt = Format.parse(fmt) if isinstance(fmt, str) else fmt
    shape = tuple(int(d) for d in shape)
    n = math.prod(shape)
    b = fmt.bits
    need = -(-n * b // 8)
    if len(data) != need:
        raise InvalidSpecError(f"{len(data)} bytes cannot hold {n} codes of {fmt} ({need} bytes expected)")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=n * b, bitorder="little")
    bits = bits.reshape(n, b)
    acc = np.zeros(n, dtype=np.uint8 if b <= 8 else np.uint16)
    for j in range(b):
        acc |= bits[:, j].astype(acc.dtype) << acc.dtype.type(j)
    if fmt.kind is FormatKind.BINARY:
        return torch.from_numpy(acc.astype(np.int64) * 2 - 1).reshape(shape)
    if fmt.kind in (FormatKind.INT, FormatKind.TERNARY):
        # sign-extend in the narrow type: move the sign bit to the top, shift back arithmetically
        width = acc.dtype.itemsize * 8
        signed = (acc << acc.dtype.type(width - b)).view(np.int8 if width == 8 else np.int16)
        return torch.from_numpy((signed >> (width - b)).astype(np.int64)).reshape(shape)
    return torch.from_numpy(acc.astype(np.int64)).reshape(shape)


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
    ("fp8e4m3", "E4M3 'fn': no inf, one NaN, max 448"),
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
)


def list_formats() -> tuple[FormatInfo, ...]:
    """The canonical example formats with notes (built on call)."""
    return tuple(FormatInfo(name, Format.parse(name), note) for name, note in _CATALOG)
