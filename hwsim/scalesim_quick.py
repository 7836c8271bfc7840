"""The fast lane of `hwsim.scalesim_io`: a SCALE-Sim cfg or topology file that is plainly valid is
read here in a few microseconds; anything else declines (returns None) and `scalesim_io`'s full
readers decide, with their messages and warnings. Nothing here raises on a user's file.

- `read_small_text`: one `os.open` + `os.pread` of a seekable ASCII file under 64 KiB without NUL bytes;
  any other file (missing, a directory, a pipe, bigger, non-ASCII, empty) goes to
  `kernels_ref.loaders.read_text`, which reads it again and gives its error or its text.
- `plain_sections`: the `{section: {key.lower(): value}}` that configparser (SCALE-Sim's, default
  options) reads, for a text made only of blank lines, comments, `[section]` headers and
  `key <:|=> value` lines in column 0, whose only whitespace is space, tab and newline, with no
  `%`, no `[DEFAULT]`, no duplicate section or key and no key before the first header (any
  other line declines the text). It accepts a subset of what `scalesim_io._PlainIni` accepts and
  gives the same mapping (tested).
- `config_fields`: the `ScaleSimConfig` keyword arguments `scalesim_io.read_config` would build
  from those sections, or None wherever `read_config` would raise, warn or need its fallback
  readers: the same keys, defaults and range checks, as plain Python on the mapping.
- `topology_rows`: the layer tuples of a topology whose every row has the standard field count
  and positive integers; other rows decline to `scalesim_io.read_topology`.
"""

from __future__ import annotations

import os
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

#: the bytes a plain cfg may hold: printable ASCII but '%', and tab and newline
_PLAIN_BYTES = bytes(c for c in range(32, 127) if c != ord("%")) + b"\t\n"
_CHUNK = 1 << 16
_BOOL = {"1": True, "yes": True, "true": True, "on": True,
         "0": False, "no": False, "false": False, "off": False}  # configparser's BOOLEAN_STATES


def read_small_text(path: str | Path, what: str) -> str:
    """The text of a user file: the fast read for an ASCII file under 64 KiB without NUL bytes,
    else `read_text` (which reads it again: its text, or its error).

    `os.lseek` to the end tells a seekable file (regular, or a device whose read then gives 64 KiB
    or non-ASCII bytes and declines) from a pipe, FIFO, socket or terminal (ESPIPE: declined
    unread), cheaper than an `os.fstat` result; `os.pread` reads from offset 0."""
    if isinstance(path, (str, Path)):
        raw = None
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            fd = -1
        if fd >= 0:
            try:
                if os.lseek(fd, 0, os.SEEK_END) < _CHUNK:
                    raw = os.pread(fd, _CHUNK, 0)
            except OSError:  # not seekable (a pipe: short reads), a directory, an I/O error
                pass
            finally:
                os.close(fd)
        if raw is not None and len(raw) < _CHUNK and raw.isascii() and b"\x00" not in raw:
            text = raw.decode("ascii")
            if text and not text.isspace():
                return text
    return read_text(path, what)


def plain_sections(text: str) -> dict[str, dict[str, str]] | None:
    """configparser's reading of a plain cfg text (module docstring), or None.

    One pass over the lines with str methods (a per-line regular expression cost more than the
    rest of the call). A line is a `key <:|=> value` line when it has a `:` or `=` and its first
    character is none of space, tab, `#`, `;`, `[` (the key ends at the first separator); else a
    `[section]` header (name between `[` and the last `]`, at least one character); else blank or
    a comment after spaces and tabs; any other line declines the text. After the byte check the
    only whitespace left is space and tab, so `strip` here is configparser's strip."""
    if not text.isascii() or text.encode("ascii").translate(None, _PLAIN_BYTES):
        return None  # '%', control characters other than \t and \n (\r, \v, \f, \x1c-\x1f: strip's)
    sections: dict[str, dict[str, str]] = {}
    pre = cur = {}  # keys before the first header land in `pre`: configparser refuses them
    for line in text.split("\n"):  # configparser iterates a StringIO: lines end at \n only
        key, sep, value = line.partition(":")
        if not sep or "=" in key:  # no ':', or an '=' before it: the key ends at the first '='
            key, sep, value = line.partition("=")
        if sep and line[0] not in " \t#;[:=":  # (a line led by ":" or "=" has an empty key)
            key = key.rstrip().lower()
            if key in cur:
                return None
            cur[key] = value.strip()
        elif line[:1] == "[":
            end = line.rfind("]")
            if end < 2:
                return None
            name = line[1:end]
            if name in sections or name == "DEFAULT":
                return None
            cur = sections[name] = {}
        elif line.lstrip()[:1] not in "#;":  # not blank, not a comment: continuation or worse
            return None
    return None if pre else sections


def config_fields(sec: dict[str, dict[str, str]] | None) -> dict[str, Any] | None:
    """`ScaleSimConfig` keyword arguments (all but `path`) as `scalesim_io.read_config` builds
    them from these sections, or None where it would raise or warn.

    Every check declines (a missing section or key: KeyError; a value `int` refuses: ValueError;
    a value out of range), so their order does not matter; `int` is `read_config`'s `int`."""
    if sec is None:
        return None
    try:
        arch = sec["architecture_presets"]
        run = sec["run_presets"]
        run_name = sec["general"]["run_name"]
        bw_mode = run["interfacebandwidth"]
        df = arch["dataflow"]
        rows, cols = int(arch["arrayheight"]), int(arch["arraywidth"])
        isz, fsz, osz = int(arch["ifmapsramszkb"]), int(arch["filtersramszkb"]), int(arch["ofmapsramszkb"])
        ioff, foff, ooff = int(arch["ifmapoffset"]), int(arch["filteroffset"]), int(arch["ofmapoffset"])
        rrb, wrb = int(arch.get("readrequestbuffer", "60")), int(arch.get("writerequestbuffer", "60"))
        layout = sec.get("layout")
        if layout is None:
            ibw = inum = fbw = fnum = 10
            iport = fport = 2
        else:
            ibw, inum = int(layout.get("ifmapsrambankbandwidth", "10")), int(layout.get("ifmapsrambanknum", "10"))
            fbw, fnum = int(layout.get("filtersrambankbandwidth", "10")), int(layout.get("filtersrambanknum", "10"))
            iport, fport = int(layout.get("ifmapsrambankport", "2")), int(layout.get("filtersrambankport", "2"))
    except (KeyError, ValueError):
        return None
    if (bw_mode not in ("USER", "CALC") or df not in ("os", "ws", "is")
            or run.get("useramulatortrace") == "True"
            or not (0 < rows <= ARRAY_DIM_MAX and 0 < cols <= ARRAY_DIM_MAX and 0 < isz <= CFG_INT_MAX
                    and 0 < fsz <= CFG_INT_MAX and 0 < osz <= CFG_INT_MAX and 0 <= ioff <= CFG_INT_MAX
                    and 0 <= foff <= CFG_INT_MAX and 0 <= ooff <= CFG_INT_MAX and 0 < rrb <= CFG_INT_MAX
                    and 0 < wrb <= CFG_INT_MAX and 0 < ibw <= CFG_INT_MAX and 0 < inum <= CFG_INT_MAX
                    and 0 < iport <= CFG_INT_MAX and 0 < fbw <= CFG_INT_MAX and 0 < fnum <= CFG_INT_MAX
                    and 0 < fport <= CFG_INT_MAX)):
        return None
    if layout is not None:
        for key in ("ifmapcustomlayout", "filtercustomlayout"):
            raw = layout.get(key)
            if raw is not None and _BOOL.get(raw.lower(), True):  # a true or a non-boolean value
                return None
    sparsity = sec.get("sparsity")
    if sparsity is not None and sparsity.get("sparsitysupport", "").lower() == "true":
        return None
    user = bw_mode == "USER"
    bw_raw = arch.get("bandwidth")
    bandwidths: tuple[int, ...] = ()
    if user:
        if bw_raw is None or ibw % inum or fbw % fnum:
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
    try:
        memory_banks = max(int(arch.get("memorybanks", "1")), 1)
    except ValueError:
        memory_banks = 1
    return {
        "run_name": run_name, "array_rows": rows, "array_cols": cols, "ifmap_sram_kb": isz,
        "filter_sram_kb": fsz, "ofmap_sram_kb": osz, "ifmap_offset": ioff, "filter_offset": foff,
        "ofmap_offset": ooff, "dataflow": df, "use_user_bandwidth": user, "bandwidths": bandwidths,
        "memory_banks": memory_banks, "read_request_buffer": rrb, "write_request_buffer": wrb,
        "ifmap_bank_bandwidth": ibw, "ifmap_bank_num": inum, "ifmap_bank_port": iport,
        "filter_bank_bandwidth": fbw, "filter_bank_num": fnum, "filter_bank_port": fport,
    }


def topology_rows(text: str, gemm: bool) -> list[tuple[Any, ...]] | None:
    """(name, ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride, line) per
    layer as `scalesim_io.read_topology` would build them (depthwise rows not split: the caller
    splits them), or None when any row needs the full reader. A row qualifies when it ends in
    the trailing comma, has exactly the standard fields (conv 8, GEMM 4) and its numbers are
    integers in [1, 2**24] as `int` reads them (the full reader's `int` on the stripped field:
    where `int` reads a field unstripped it reads it stripped the same, and a field it refuses
    declines); a conv filter fits its ifmap; a 'DP' row has at most DP_CHANNELS_MAX channels."""
    need = 5 if gemm else 9
    out: list[tuple[Any, ...]] = []
    for line_no, raw in enumerate(text.splitlines()[1:], 2):  # line 1 is the header
        parts = raw.split(",")
        if len(parts) != need:
            if raw.strip():
                return None
            continue  # a blank line (it has no comma)
        if parts[-1].strip():
            return None
        try:
            vals = list(map(int, parts[1:-1]))
        except ValueError:
            return None
        if min(vals) < 1 or max(vals) > TOPOLOGY_INT_MAX:
            return None
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
