"""Fuzz inputs for every kind lowbit reads, as `Case`s for `fuzz_harness.run_case`.

- `corpus_cases()`: the hand-made files of tests/data/fuzz/<kind>/ (`make_corpus.py`);
  `bad_*` must be a clean error naming the file, `ok_*` must run, `any_*` either.
- `mutated(kind)`: a hypothesis strategy of mutated seed files of one kind (a number swapped
  for a nasty one, a line dropped, duplicated or truncated, a key misspelt, bytes inserted)
  and of mutated argv; each must end in a clean error or a valid run.
"""

from __future__ import annotations

import atexit
import itertools
import json
import re
import shutil
import tempfile
from pathlib import Path

from fuzz_harness import Case
from hypothesis import strategies as st

__all__ = ["KIND_ARGV", "MUTATED_KINDS", "corpus_cases", "mutated"]

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CORPUS = ROOT / "tests" / "data" / "fuzz"
SCALESIM = ROOT / "tests" / "data" / "scalesim"
_COUNTER = itertools.count()
_TMP = Path(tempfile.mkdtemp(prefix="lowbit-fuzz-"))
atexit.register(shutil.rmtree, _TMP, True)


def _out(tag: str) -> str:
    return str(_TMP / f"{tag}{next(_COUNTER)}")


# kind -> argv builder for one input file, and its per-case time bound (s)
KIND_ARGV = {
    "spec": (lambda f: ("simulate", "--hw", f, "--model", "resnet-18"), 20),
    "cfg": (lambda f: ("simulate", "--scalesim-cfg", f, "--topology", str(SCALESIM / "conv_layers.csv")), 20),
    "topology": (lambda f: ("simulate", "--scalesim-cfg", str(SCALESIM / "a32x32_os.cfg"), "--topology", f), 20),
    "costs": (lambda f: ("allocate", "--costs", f), 20),
    "sensitivity": (lambda f: ("allocate", "--hw", "bitmod", "--model", "resnet-18", "--formats", "int4,int8",
                               "--sensitivity", f), 30),
    "space": (lambda f: ("sweep", "--space", f, "--db", _out("db") + ".sqlite", "--executor", "serial",
                         "--quiet"), 30),
    "allocation": (lambda f: ("verify", "--model", "digits", "--allocation", f, "--seed", "0"), 60),
    "report": (lambda f: ("report", f, "-o", _out("rep")), 60),
}


def corpus_cases(kinds: tuple[str, ...] | None = None) -> list[Case]:
    out = []
    for path in sorted(CORPUS.glob("*/*")):
        kind = path.parent.name
        if kinds is not None and kind not in kinds:
            continue
        build, t = KIND_ARGV[kind]
        prefix = path.name.split("_", 1)[0]
        expect = {"bad": "error", "ok": "valid"}.get(prefix, "any")
        out.append(Case(kind, path.name, build(str(path)), expect=expect,
                        names=path.name if expect == "error" else None, time_s=t))
    return out


# ------------------------------------------------------------------ mutation strategies

NASTY_NUMBERS = ("0", "-1", "-0.5", "0.5", "2.5", "1e300", "-1e300", "1e-300", ".nan", ".inf", "-.inf",
                 "nan", "inf", "NaN", "9223372036854775807", "9223372036854775808", "18446744073709551616",
                 "1" + "0" * 400, "1e12", "1000000000000", "4294967296", "true", "null", "''", "abc", "0x10",
                 "1_000", "-0", "+3", "1e", "3,5")
NASTY_TEXT = ("", " ", "\t", "#", ":", "::", "- ", "[", "]", "{", "}", "&a", "*a", "!!python/object:os.system",
              "!!binary AAAA", "'", '"', "\\", "%", "%(x)s", "..", "../../etc", "\u202e", "é", "\ufeff")
_NUM = re.compile(r"(?<![\w.])-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?(?![\w.])")

SEEDS = {
    "spec": ROOT / "hwsim/presets/loom.yaml",
    "cfg": SCALESIM / "a32x32_os.cfg",
    "topology": SCALESIM / "conv_layers.csv",
    "costs": ROOT / "tests/data/hawq_v3_resnet18_costs.json",
    "sensitivity": HERE / "seed_sens.csv",
    "space": HERE / "seed_space.yaml",
    "report": HERE / "seed_alloc.json",
}
MUTATED_KINDS = (*SEEDS, "argv")


@st.composite
def _mutate_text(draw: st.DrawFn, text: str) -> bytes:
    """One to three edits of `text`."""
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(("number", "number", "number", "drop", "dup", "truncate", "insert",
                                   "key", "bytes")))
        lines = text.splitlines(keepends=True)
        if op == "number":
            nums = list(_NUM.finditer(text))
            if nums:
                m = draw(st.sampled_from(nums))
                text = text[:m.start()] + draw(st.sampled_from(NASTY_NUMBERS)) + text[m.end():]
        elif op == "drop" and len(lines) > 1:
            i = draw(st.integers(0, len(lines) - 1))
            text = "".join(lines[:i] + lines[i + 1:])
        elif op == "dup" and lines:
            i = draw(st.integers(0, len(lines) - 1))
            text = "".join(lines[:i + 1] + [lines[i]] + lines[i + 1:])
        elif op == "truncate":
            text = text[: draw(st.integers(0, len(text)))]
        elif op == "insert":
            i = draw(st.integers(0, len(text)))
            text = text[:i] + draw(st.sampled_from(NASTY_TEXT)) + text[i:]
        elif op == "key":  # misspell a word: a key or a value
            words = list(re.finditer(r"[A-Za-z_]{3,}", text))
            if words:
                m = draw(st.sampled_from(words))
                wd = m.group(0)
                j = draw(st.integers(0, len(wd) - 1))
                text = text[:m.start()] + wd[:j] + wd[j + 1:] + text[m.end():]
    raw = text.encode("utf-8")
    if draw(st.integers(0, 19)) == 0:  # now and then a byte that is not UTF-8 text
        i = draw(st.integers(0, len(raw)))
        raw = raw[:i] + draw(st.sampled_from((b"\x00", b"\xff", b"\xe9", b"\xfe\xff"))) + raw[i:]
    return raw


_JSON_VALUES = st.one_of(st.sampled_from([None, True, False, "", " ", "x" * 70, -1, -1e308, 0, 2**63, 1e308,
                                          [], {}, [[]], {"a": None}]),
                         st.integers(-2**70, 2**70), st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=8))


@st.composite
def _mutate_json(draw: st.DrawFn, doc: object) -> bytes:
    """Replace one value anywhere in a JSON document (structure-aware)."""
    doc = json.loads(json.dumps(doc))
    node, path = doc, []
    for _ in range(draw(st.integers(1, 4))):
        if isinstance(node, dict) and node:
            k = draw(st.sampled_from(sorted(node)))
        elif isinstance(node, list) and node:
            k = draw(st.integers(0, min(len(node) - 1, 5)))
        else:
            break
        path.append((node, k))
        node = node[k]
    if path:
        parent, k = path[-1]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[k]
        else:
            parent[k] = draw(_JSON_VALUES)
    return json.dumps(doc).encode("utf-8")


ARGV_BASE = (
    ("formats", "show", "int4g128"),
    ("formats", "list"),
    ("models", "show", "resnet-18", "--batch", "1"),
    ("simulate", "--hw", "loom", "--model", "resnet-18", "--batch", "1"),
    ("simulate", "--hw", "tmac-avx2", "--model", "llama-2-7b", "--phase", "decode", "--seq", "128"),
    ("allocate", "--costs", str(SEEDS["costs"]), "--budget", "size=0.7x"),
    ("allocate", "--costs", str(SEEDS["costs"]), "--method", "greedy", "--budget", "latency=0.8x"),
    ("allocate", "--hw", "bitmod", "--model", "resnet-18", "--formats", "int4,int8", "--sensitivity",
     "builtin", "--latency", "0.8x"),
    ("pareto", "--costs", str(SEEDS["costs"]), "--sweep", "size", "--points", "3", "-o", "@OUT"),
    ("presets", "show", "loom"),
)
ARGV_NASTY = (*NASTY_NUMBERS, *NASTY_TEXT, "--", "-", "--help", "--batch", "--seed", "uniform:int8", "int3,int5",
              "latency=5KiB", "latency=1", "size=-1", "int4g" + "9" * 50, "x" * 5000, "builtin", "fp8",
              "int0", "int17", "ternary", "binary", "int4g0")


@st.composite
def _mutate_argv(draw: st.DrawFn) -> tuple[str, ...]:
    argv = list(draw(st.sampled_from(ARGV_BASE)))
    for _ in range(draw(st.integers(1, 2))):
        op = draw(st.sampled_from(("replace", "replace", "insert", "drop")))
        i = draw(st.integers(1, len(argv) - 1)) if len(argv) > 1 else 0
        if op == "replace":
            argv[i] = draw(st.sampled_from(ARGV_NASTY))
        elif op == "insert":
            argv.insert(i, draw(st.sampled_from(ARGV_NASTY)))
        elif len(argv) > 1:
            del argv[i]
    return tuple(_out("o") if a == "@OUT" else a for a in argv)


def mutated(kind: str) -> st.SearchStrategy[Case]:
    """A strategy of mutated inputs of `kind` as Cases (files written under a temp folder)."""
    if kind == "argv":
        return _mutate_argv().map(lambda argv: Case("argv", "mutated", argv, time_s=30))
    seed = SEEDS[kind]
    text = seed.read_text(encoding="utf-8")
    data = (st.one_of(_mutate_text(text), _mutate_json(json.loads(text)))
            if seed.suffix == ".json" else _mutate_text(text))
    build, t = KIND_ARGV[kind]

    def case(raw: bytes) -> Case:
        p = Path(_out(kind) + seed.suffix)
        p.write_bytes(raw)
        return Case(kind, "mutated", build(str(p)), time_s=t)

    return data.map(case)
