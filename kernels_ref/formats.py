"""The one definition of every number format lowbit knows.

`Format` is a frozen dataclass. Its string form round-trips through `Format.parse`:

    int4            signed 4-bit integer, one scale per output channel
    uint8t          unsigned 8-bit, one scale per tensor ("t" suffix)
    int4g128        signed 4-bit, one scale per group of 128 along K
    int4g128_sfp32  ... with fp32 scales (default scale format is fp16)
    int4g128_spow2  ... with power-of-two (8-bit exponent) scales
    binary, ternary {-1,+1} / {-1,0,+1} codes with a per-channel scale
    fp4 (E2M1), fp6 (E3M2), fp8e4m3, fp8e5m2, fp16, bf16, fpe3m4 (any ExMy)
    nf4             NormalFloat-4 (QLoRA) codebook, per-group or per-channel
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import cached_property

from kernels_ref.errors import UnsupportedFormatError

__all__ = [
    "FormatKind",
    "Granularity",
    "ScaleFormat",
    "Format",
]


class FormatKind(enum.Enum):
    INT = "int"
    UINT = "uint"
    BINARY = "binary"
    TERNARY = "ternary"
    FP = "fp"
    NF = "nf"


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


_INT_BITS = frozenset(range(1, 9)) | {16}
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

    def __post_init__(self) -> None:
        k = self.kind
        if k in (FormatKind.INT, FormatKind.UINT) and self.bits not in _INT_BITS:
            raise UnsupportedFormatError(f"{k.value} format needs 1-8 or 16 bits, got {self.bits}")
        if k is FormatKind.BINARY and self.bits != 1:
            raise UnsupportedFormatError(f"binary format has 1 bit, got {self.bits}")
        if k is FormatKind.TERNARY and self.bits != 2:
            raise UnsupportedFormatError(f"ternary format is stored in 2 bits, got {self.bits}")
        if k is FormatKind.NF and self.bits != 4:
            raise UnsupportedFormatError(f"NF format exists only as nf4, got {self.bits} bits")
        if k is FormatKind.FP:
            if self.exp_bits < 1 or self.man_bits < 0 or self.exp_bits + self.man_bits + 1 != self.bits:
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
    def parse(cls, text: str) -> "Format":
        """Parse the string form (see module docstring); raises UnsupportedFormatError."""
        if not isinstance(text, str):
            raise UnsupportedFormatError(f"format must be a string, got {type(text).__name__}")
        s = text.strip().lower()
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
            base = _FP_NAME_OF.get((self.exp_bits, self.man_bits), f"fpe{self.exp_bits}m{self.man_bits}")
        elif k in (FormatKind.INT, FormatKind.UINT):
            base = f"{k.value}{self.bits}"
        elif k is FormatKind.NF:
            base = "nf4"
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
            return self.bits + self.scale.bits / self.group_size
        return float(self.bits)

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
        return float(codes + scales * self.scale.bits)

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
