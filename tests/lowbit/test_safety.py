"""Safety of what lowbit reads and writes (issue 20 item 5): no loader that can run code on user
input, HTML that escapes every user string, output names that stay inside -o."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_PACKAGES = ("lowbit", "hwsim", "mapper", "search", "models", "kernels_ref", "reports")


def _sources() -> list[Path]:
    files = [p for d in _PACKAGES for p in (ROOT / d).rglob("*.py")]
    files += list((ROOT / "benchmarks").glob("*.py")) + list((ROOT / "examples").glob("*.py"))
    assert len(files) > 100
    return files


# (pattern, what is wrong); a line may carry "# safe-loader: <reason>" to say why it is fine
_UNSAFE = [
    (re.compile(r"\byaml\.(?:load|load_all)\((?![^)]*Loader=\s*(?:yaml\.)?(?:Safe|CSafe|_Loader|loader))"),
     "yaml.load without a SafeLoader-derived Loader"),
    (re.compile(r"\byaml\.(?:unsafe_load|full_load|FullLoader|UnsafeLoader)\b"), "unsafe YAML loader"),
    (re.compile(r"\b(?:pickle|cPickle|dill|cloudpickle|marshal|shelve)\.(?:load|loads|open)\("), "pickle of input"),
    (re.compile(r"\btorch\.load\((?![^)]*weights_only\s*=\s*True)"), "torch.load without weights_only=True"),
    (re.compile(r"(?<![\w.])(?:eval|exec)\("), "eval/exec"),
    (re.compile(r"\bnp\.load\([^)]*allow_pickle\s*=\s*True"), "numpy load with pickles"),
]


def test_no_unsafe_loader_in_the_tree():
    bad = []
    for p in _sources():
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0] if "safe-loader:" not in line else ""
            for pat, what in _UNSAFE:
                if pat.search(code):
                    bad.append(f"{p.relative_to(ROOT)}:{i}: {what}: {line.strip()[:100]}")
    assert not bad, "\n".join(bad)


def test_the_scan_catches_what_it_looks_for():
    lines = ["x = yaml.load(f)", "torch.load(p)", "pickle.load(fh)", "eval(s)", "yaml.unsafe_load(t)",
             "torch.load(p, map_location='cpu')"]
    for line in lines:
        assert any(pat.search(line) for pat, _ in _UNSAFE), line
    for line in ["yaml.load(t, Loader=yaml.SafeLoader)", "torch.load(p, weights_only=True)",
                 "model.eval()", "literal_eval(x)"]:
        assert not any(pat.search(line) for pat, _ in _UNSAFE), line


def test_python_tags_do_not_run(tmp_path):
    from lowbit.kernels_ref.errors import InvalidSpecError
    from lowbit.kernels_ref.loaders import load_yaml

    flag = tmp_path / "ran"
    text = f"a: !!python/object/apply:os.system ['touch {flag}']\n"
    with pytest.raises(InvalidSpecError):
        load_yaml(text, "t.yaml")
    assert not flag.exists()


_EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_report_html_escapes_user_strings(tmp_path, capsys):
    from lowbit.cli import main

    seed = json.loads((ROOT / "tests/fuzz/seed_alloc.json").read_text())
    seed["model"] = _EVIL
    seed["hardware"] = _EVIL + "hw"
    seed["layers"][0]["name"] = _EVIL + "layer"
    src = tmp_path / "alloc.json"
    src.write_text(json.dumps(seed))
    out = tmp_path / "rep"
    assert main(["report", str(src), "-o", str(out), "--title", _EVIL + "title"]) == 0
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;" in html or "\\u003cscript" in html  # shown, escaped


@pytest.mark.parametrize("name", ["../../escape", "/abs/path", "..", "a/../../b", "C:\\x", "\x00nul", "é/ü"])
def test_output_names_stay_inside_the_output_dir(tmp_path, name):
    from lowbit.reports.bundle import safe_name

    stem = safe_name(name)
    assert "/" not in stem and "\\" not in stem and "\x00" not in stem
    out = tmp_path / "out"
    assert (out / f"{stem}.png").resolve().parent == out.resolve()
