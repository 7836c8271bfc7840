"""The fast lane of `hwsim.scalesim_io`: a SCALE-Sim cfg or topology file that is plainly valid is
read here in a few microseconds; anything else declines (returns None) and `scalesim_io`'s full
readers decide, with their messages and warnings. Nothing here raises on a user's file.

- `read_small_text`: one `os.open` + `os.read` of a regular ASCII file under 64 KiB without NUL bytes; any
  other file (missing, a directory, bigger, non-ASCII, empty) goes to `kernels_ref.loaders.read_text`,
  which reads it again and gives its error or its text.
- `plain_sections`: the `{section: {key.lower(): value}}` that configparser (SCALE-Sim's, default
  options) reads, for a text made only of blank lines, comments, `[section]` headers and
  `key <:|=> value` lines in column 0, whose only whitespace is space, tab and newline, with no
  `%`, no `[DEFAULT]`, no duplicate section or key and no key before the first header. One
  regular expression matches each line (a line it cannot match declines the text). It accepts a
  subset of what `scalesim_io._PlainIni` accepts and gives the same mapping (tested).
- `config_fields`: the `ScaleSimConfig` keyword arguments `scalesim_io.read_config` would build
  from those sections, or None wherever `read_config` would raise, warn or need its fallback
  readers: the same keys, defaults and range checks, as plain Python on the mapping.
- `topology_rows`: the layer tuples of a topology whose every row has the standard field count
  and plain positive integers; other rows decline to `scalesim_io.read_topology`.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

from lowbit.kernels_ref.loaders import read_text

__all__ = ["ARRAY_DIM_MAX", "CFG_INT_MAX", "DP_CHANNELS_MAX", "TOPOLOGY_INT_MAX", "config_fields",
           "plain_sections", "read_small_text", "topology_rows"]

#: lowbit's bounds (SCALE-Sim has none; past them it runs out of memory): array dims, other cfg
#: integers, topology fields, and the channels of one depthwise ('DP') row.
ARRAY_DIM_MAX = 2**14
CFG_INT_MAX = 2**40
TOPOLOGY_INT_MAX = 2**24
DP_CHANNELS_MAX = 4096

_LINES = re.compile(r"^([^\s#;\[:=][^:=\n]*)[:=](.*)$|^\[(.+)\].*$|^[ \t]*(?:[#;].*)?$",
                    re.MULTILINE)  # one match per plain line: key-value, header, blank/comment
_CHUNK = 1 << 16
_BOOL = {"1": True, "yes": True, "true": True, "on": True,
         "0": False, "no": False, "false": False, "off": False}  # configparser's BOOLEAN_STATES


def read_small_text(path: str | Path, what: str) -> str:
    """The text of a user file: the fast read for an ASCII file under 64 KiB without NUL bytes,
    else `read_text` (which reads it again: its text, or its error)."""
    if isinstance(path, (str, Path)):
        raw = None
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            fd = -1
        if fd >= 0:
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):  # not a pipe (short reads) or a device
                    raw = os.read(fd, _CHUNK)
            except OSError:
                pass
            finally:
                os.close(fd)
        if raw is not None and len(raw) < _CHUNK and raw.isascii() and b"\x00" not in raw:
            text = raw.decode("ascii")
            if text.strip():
                return text
    return read_text(path, what)


def plain_sections(text: str) -> dict[str, dict[str, str]] | None:
    """configparser's reading of a plain cfg text (module docstring), or None."""
    if "%" in text or not text.isascii() or not text.replace("\n", "").replace("\t", "").isprintable():
        return None  # '%', non-ASCII, control characters (\r, \v, \f, \x1c-\x1f: str.strip's too)
    items = _LINES.findall(text)
    if len(items) != text.count("\n") + 1:  # some line is not plain
        return None
    sections: dict[str, dict[str, str]] = {}
    cur: dict[str, str] | None = None
    for key, value, name in items:
        if name:
            if name in sections or name == "DEFAULT":
                return None
            cur = sections[name] = {}
        elif key:
            if cur is None:
                return None
            key = key.rstrip().lower()
            if key in cur:
                return None
            cur[key] = value.strip()
    return sections


def _int(raw: str | None, lo: int, hi: int) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if lo <= value <= hi else None


def config_fields(sec: dict[str, dict[str, str]] | None) -> dict[str, Any] | None:
    """`ScaleSimConfig` keyword arguments (all but `path`) as `scalesim_io.read_config` builds
    them from these sections, or None where it would raise or warn."""
    if sec is None:
        return None
    gen, run, arch = sec.get("general"), sec.get("run_presets"), sec.get("architecture_presets")
    if gen is None or run is None or arch is None:
        return None
    run_name = gen.get("run_name")
    bw_mode = run.get("interfacebandwidth")
    df = arch.get("dataflow")
    if run_name is None or bw_mode not in ("USER", "CALC") or df not in ("os", "ws", "is"):
        return None
    if run.get("useramulatortrace") == "True":
        return None
    user = bw_mode == "USER"
    bw_raw = arch.get("bandwidth")
    bandwidths: tuple[int, ...] = ()
    if user:
        if bw_raw is None:
            return None
        try:
            bandwidths = tuple(int(x.strip()) for x in bw_raw.split(","))
        except ValueError:
            return None
        if any(not 1 <= b <= CFG_INT_MAX for b in bandwidths):
            return None
    elif bw_raw:
        try:
            bandwidths = tuple(int(x.strip()) for x in bw_raw.split(","))
        except ValueError:
            bandwidths = ()
    sparsity = sec.get("sparsity")
    if sparsity is not None and sparsity.get("sparsitysupport", "").lower() == "true":
        return None
    layout = sec.get("layout")
    lay: dict[str, int] = {}
    for key, default in (("ifmapsrambankbandwidth", 10), ("ifmapsrambanknum", 10), ("ifmapsrambankport", 2),
                         ("filtersrambankbandwidth", 10), ("filtersrambanknum", 10),
                         ("filtersrambankport", 2)):
        raw = None if layout is None else layout.get(key)
        value = default if raw is None else _int(raw, 1, CFG_INT_MAX)
        if value is None:
            return None
        lay[key] = value
    if layout is not None:
        for key in ("ifmapcustomlayout", "filtercustomlayout"):
            raw = layout.get(key)
            if raw is not None and _BOOL.get(raw.lower(), True):  # a true or a non-boolean value
                return None
    if user and (lay["ifmapsrambankbandwidth"] % lay["ifmapsrambanknum"]
                 or lay["filtersrambankbandwidth"] % lay["filtersrambanknum"]):
        return None
    banks_raw = arch.get("memorybanks", "1")
    try:
        memory_banks = max(int(banks_raw), 1)
    except ValueError:
        memory_banks = 1
    ints = (_int(arch.get("arrayheight"), 1, ARRAY_DIM_MAX), _int(arch.get("arraywidth"), 1, ARRAY_DIM_MAX),
            _int(arch.get("ifmapsramszkb"), 1, CFG_INT_MAX), _int(arch.get("filtersramszkb"), 1, CFG_INT_MAX),
            _int(arch.get("ofmapsramszkb"), 1, CFG_INT_MAX), _int(arch.get("ifmapoffset"), 0, CFG_INT_MAX),
            _int(arch.get("filteroffset"), 0, CFG_INT_MAX), _int(arch.get("ofmapoffset"), 0, CFG_INT_MAX),
            _int(arch.get("readrequestbuffer", "60"), 1, CFG_INT_MAX),
            _int(arch.get("writerequestbuffer", "60"), 1, CFG_INT_MAX))
    if None in ints:
        return None
    rows, cols, isz, fsz, osz, ioff, foff, ooff, rrb, wrb = ints
    return {
        "run_name": run_name, "array_rows": rows, "array_cols": cols, "ifmap_sram_kb": isz,
        "filter_sram_kb": fsz, "ofmap_sram_kb": osz, "ifmap_offset": ioff, "filter_offset": foff,
        "ofmap_offset": ooff, "dataflow": df, "use_user_bandwidth": user, "bandwidths": bandwidths,
        "memory_banks": memory_banks, "read_request_buffer": rrb, "write_request_buffer": wrb,
        "ifmap_bank_bandwidth": lay["ifmapsrambankbandwidth"], "ifmap_bank_num": lay["ifmapsrambanknum"],
        "ifmap_bank_port": lay["ifmapsrambankport"], "filter_bank_bandwidth": lay["filtersrambankbandwidth"],
        "filter_bank_num": lay["filtersrambanknum"], "filter_bank_port": lay["filtersrambankport"],
    }


_NUM = re.compile(r"[0-9]{1,8}")


def topology_rows(text: str, gemm: bool) -> list[tuple[Any, ...]] | None:
    """(name, ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride, line) per
    layer as `scalesim_io.read_topology` would build them (depthwise rows not split: the caller
    splits them), or None when any row needs the full reader. A row qualifies when it ends in
    the trailing comma, has exactly the standard fields (conv 8, GEMM 4) and its numbers are
    plain decimal integers in [1, 2**24]; a conv filter fits its ifmap; a 'DP' row has at most
    DP_CHANNELS_MAX channels."""
    need = 5 if gemm else 9
    out: list[tuple[Any, ...]] = []
    for line_no, raw in enumerate(text.splitlines(), 1):
        row = raw.strip()
        if line_no == 1 or not row:
            continue
        parts = row.split(",")
        if len(parts) != need or parts[-1].strip():
            return None
        vals = []
        for p in parts[1:-1]:
            p = p.strip()
            if _NUM.fullmatch(p) is None:
                return None
            v = int(p)
            if not 1 <= v <= TOPOLOGY_INT_MAX:
                return None
            vals.append(v)
        name = parts[0].strip()
        if gemm:
            m, n, k = vals
            out.append((name, m, k, 1, k, 1, n, 1, line_no))
            continue
        ih, iw, fh, fw, ch, nf, st = vals
        if fh > ih or fw > iw or ("DP" in name and ch > DP_CHANNELS_MAX):
            return None
        out.append((name, ih, iw, fh, fw, ch, nf, st, line_no))
    return out or None
