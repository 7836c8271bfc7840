"""The verification harness: it passes on every registered kernel, and it catches
kernels that are wrong in the ways reference kernels go wrong."""

from __future__ import annotations

import json

import lowbit.kernels_ref.verify as verify_mod
import pytest
import torch
from lowbit.kernels_ref.dense import FLOAT_REL_TOL, dense_float, dense_int, exact_int_matmul
from lowbit.kernels_ref.errors import InvalidSpecError, UnsupportedFormatError
from lowbit.kernels_ref.formats import Format
from lowbit.kernels_ref.registry import RefKernel, all_kernels
from lowbit.kernels_ref.verify import (
    EXTREME_K,
    PoisonAllocations,
    check_seed,
    format_table,
    verify_kernels,
    verify_one,
)

from lowbit.cli import main

I8 = Format.parse("int8")


def _registered_triples() -> set[tuple[str, str, str]]:
    out = set()
    for k in all_kernels():
        for w in k.weight_formats:
            for a in k.act_formats:
                out.add((k.name, str(Format.parse(w)), str(Format.parse(a))))
    return out


# ----------------------------------------------------------------- the CI run
@pytest.mark.slow  # > 2 s; the slow lane (make test) runs it
def test_lowbit_verify_passes_every_registered_kernel_on_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["verify", "--seed", "20261124", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["seed"] == 20261124
    fails = [(r["kernel"], r["w_format"], r["a_format"], r["detail"]) for r in data["rows"] if not r["passed"]]
    assert fails == []
    assert rc == 0 and data["passed"] is True
    seen = {(r["kernel"], r["w_format"], r["a_format"]) for r in data["rows"]}
    assert seen == _registered_triples()
    # every exact check ran its K=2048 all-extreme shape too
    assert any(r["shape"] == [2, EXTREME_K, 8] for r in data["rows"])


def test_cli_table_prints_seed_and_rows(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["verify", "--formats", "int4,fp4", "--seed", "7"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "seed 7" in out and "--seed 7" in out
    assert "dense-int" in out and "dense-float" in out and "FAIL" not in out
    header = out.splitlines()[1].split()
    assert header == ["format", "act", "kernel", "device", "shape", "oracle", "max_abs_err", "max_rel_err",
                      "tol", "result", "time_s"]


# ------------------------------------------------------ deliberately wrong kernels
def _off_by_one(x, w, wf, af):  # type: ignore[no-untyped-def]
    y = x.to(torch.int64) @ w.to(torch.int64)
    y[-1, -1] += 1
    return y


def _skips_last_row_out(x, w, wf, af, out=None):  # type: ignore[no-untyped-def]
    y = x.to(torch.int64) @ w.to(torch.int64)
    out[:-1] = y[:-1]
    return out


def _skips_last_col_empty(x, w, wf, af):  # type: ignore[no-untyped-def]
    out = torch.empty(x.shape[0], w.shape[1], dtype=torch.int64)
    out[:, :-1] = (x.to(torch.int64) @ w.to(torch.int64))[:, :-1]
    return out


def _naive_fp32(x, w, wf, af):  # type: ignore[no-untyped-def]
    return (x.float() @ w.float()).to(torch.int64)  # inexact once partial sums pass 2^24


def _float_in_bf16(x, w, wf, af):  # type: ignore[no-untyped-def]
    return (x.to(torch.bfloat16) @ w.to(torch.bfloat16)).float()


def _float_unwritten(x, w, wf, af):  # type: ignore[no-untyped-def]
    out = torch.empty(x.shape[0], w.shape[1])
    out[:, 1:] = (x @ w.float())[:, 1:]
    return out


def _crashes(x, w, wf, af):  # type: ignore[no-untyped-def]
    raise RuntimeError("index out of range in a LUT")


def _float_result_for_exact(x, w, wf, af):  # type: ignore[no-untyped-def]
    return (x.double() @ w.double())


def _k(name: str, fn, exact: bool = True, w=("int8",), a=("int8",)) -> RefKernel:  # type: ignore[no-untyped-def]
    return RefKernel(name=name, family="test", weight_formats=w, act_formats=a, fn=fn, exact=exact,
                     rel_tol=0.0 if exact else FLOAT_REL_TOL)


@pytest.mark.parametrize("fn,why", [
    (_off_by_one, "differ"),
    (_skips_last_row_out, "unwritten"),
    (_skips_last_col_empty, "unwritten"),
    (_crashes, "RuntimeError"),
    (_float_result_for_exact, "not an integer dtype"),
])
def test_wrong_exact_kernel_is_caught(fn, why: str) -> None:  # type: ignore[no-untyped-def]
    rep = verify_kernels(seed=1, kernels=[_k("wrong", fn)], shapes=[(4, 64, 8)])
    assert not rep.passed
    assert rep.failures and all(why in r.detail for r in rep.failures)
    assert "FAIL" in format_table(rep.rows)


def test_inexact_fp32_accumulation_caught_only_by_the_extreme_shape() -> None:
    # int8 x int8 random draws over K=192..384 stay below 2^24; only the extreme
    # shape (K=2048 products of {-128,-127}^2, sums ~3.3e7 > 2^25 with odd
    # addends) exposes the naive fp32 matmul.
    rep = verify_kernels(seed=1, kernels=[_k("naive", _naive_fp32)])
    bad = [r for r in rep.rows if not r.passed]
    assert [r.shape for r in bad] == [(2, EXTREME_K, 8)]
    assert bad[0].max_abs_err > 0 and "differ" in bad[0].detail


def test_wrong_float_kernels_are_caught() -> None:
    rep = verify_kernels(seed=2, kernels=[_k("bf16", _float_in_bf16, exact=False, w=("fp8e4m3",), a=("fp16",))])
    assert not rep.passed and all(r.max_rel_err > FLOAT_REL_TOL for r in rep.failures)
    rep = verify_kernels(seed=2, kernels=[_k("hole", _float_unwritten, exact=False, w=("int4",), a=("fp16",))])
    assert not rep.passed and all("NaN" in r.detail for r in rep.failures)


def test_cli_exits_1_when_a_kernel_is_wrong(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    kerns = all_kernels() + (_k("wrong-off-by-one", _off_by_one),)
    monkeypatch.setattr(verify_mod, "all_kernels", lambda: kerns)
    rc = main(["verify", "--formats", "int8", "--seed", "3"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAIL wrong-off-by-one int8 x int8" in out and "seed=" in out


# ------------------------------------------------------------------ bad arguments
@pytest.mark.parametrize("argv,msg", [
    (["verify", "--formats", "int4,nope"], "unknown format 'nope'"),
    (["verify", "--device", "tpu"], "--device must be cpu or cuda"),
    (["verify", "--formats", "int4g7x"], "unknown format"),
    (["verify", "--model", "resnet9", "--allocation", "x.yaml"], "unknown model"),
    (["verify", "--model", "digits"], "--model needs --allocation"),
    (["verify", "--allocation", "x.yaml"], "--allocation needs --model"),
])
def test_cli_bad_arguments_exit_2_one_line(argv: list[str], msg: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2
    assert msg in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cli_cuda_without_gpu_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["verify", "--device", "cuda"])
    err = capsys.readouterr().err
    assert rc == 2 and "no CUDA device" in err and len(err.strip().splitlines()) == 1


def test_format_no_kernel_runs_is_a_clear_error() -> None:
    with pytest.raises(InvalidSpecError, match="no registered kernel runs format"):
        verify_kernels(formats=["fpe6m1"], seed=0, kernels=[_k("d", dense_int)])


# ---------------------------------------------------------------- harness parts
def test_poison_mode_fills_uninitialised_tensors() -> None:
    with PoisonAllocations():
        a = torch.empty(3, dtype=torch.int64)
        b = torch.empty_like(torch.zeros(2))
        c = torch.zeros(2)
    assert a.tolist() == [torch.iinfo(torch.int64).min] * 3
    assert bool(torch.isnan(b).all())
    assert c.tolist() == [0.0, 0.0]


def test_seeds_are_recorded_and_reproducible() -> None:
    kern = all_kernels()[0]
    w, a = Format.parse(kern.weight_formats[0]), Format.parse(kern.act_formats[0])
    s = check_seed(5, kern.name, w, a, (3, 192, 8), "cpu")
    assert s == check_seed(5, kern.name, w, a, (3, 192, 8), "cpu")
    assert s != check_seed(6, kern.name, w, a, (3, 192, 8), "cpu")
    r1 = verify_one(kern, w, a, (3, 192, 8), s)
    r2 = verify_one(kern, w, a, (3, 192, 8), s)
    assert r1[0].seed == r2[0].seed == s and r1[0].passed and r2[0].passed
    rep = verify_kernels(seed=11, kernels=[kern], formats=[kern.weight_formats[0]])
    assert rep.seed == 11 and {r.seed for r in rep.rows} <= {
        check_seed(11, kern.name, w, Format.parse(af), sh, "cpu")
        for af in kern.act_formats for sh in [*verify_mod.default_shapes("cpu"), (2, EXTREME_K, 8)]}


# ---------------------------------------------------------------- dense kernels
@pytest.mark.parametrize("wf,af,k", [("int8", "int8", 5000), ("int16", "int8", 300), ("uint8", "uint8", 4097),
                                     ("ternary", "int8", 70000)])
def test_dense_int_exact_at_extreme_codes(wf: str, af: str, k: int) -> None:
    # every code at its largest magnitude: partial sums far above 2^24
    W, A = Format.parse(wf), Format.parse(af)
    wv = W.qmin if abs(W.qmin) >= W.qmax else W.qmax
    av = A.qmin if abs(A.qmin) >= A.qmax else A.qmax
    x = torch.full((2, k), av, dtype=torch.int64)
    w = torch.full((k, 3), wv, dtype=torch.int64)
    y = dense_int(x, w, W, A)
    assert y.dtype == torch.int64
    assert y.tolist() == [[k * av * wv] * 3] * 2  # hand value: K identical products


def test_dense_int_out_and_shape_errors() -> None:
    x = torch.randint(-128, 128, (3, 40))
    w = torch.randint(-8, 8, (40, 5))
    out = torch.full((3, 5), -1, dtype=torch.int64)
    y = dense_int(x, w, Format.parse("int4"), I8, out=out)
    assert y is out and torch.equal(out, x @ w)
    with pytest.raises(UnsupportedFormatError):
        exact_int_matmul(x, w.t(), 127, 7)
    with pytest.raises(UnsupportedFormatError, match="integer codes"):
        dense_int(x, w, Format.parse("fp4"), I8)


def test_dense_float_decodes_fp4_codes() -> None:
    # E2M1 values of codes 0..7: 0, 0.5, 1, 1.5, 2, 3, 4, 6 (OCP MX spec table); code 8+c = -value
    codes = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 15]]).t()
    y = dense_float(torch.ones(1, 8), codes, Format.parse("fp4"), Format.parse("fp16"))
    assert y.tolist() == [[0.5 + 1 + 1.5 + 2 + 3 + 4 + 6 - 6]]
