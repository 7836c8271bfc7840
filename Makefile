# The two commands a newcomer runs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast docs fuzz clean debs

$(BIN)/python:
	$(PY) -m venv $(VENV)

# torch==2.13.0 first: on this machine it is a local CPU build; any other spec pulls GBs of CUDA.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,real,dist]'
	# compile the SCALE-Sim stall kernel once (numba cache in hwsim/__pycache__, ~18 s CPU)
	$(BIN)/python -c "from lowbit.hwsim import scalesim_jit; scalesim_jit.warm()"
	# and the mapper's compiled latency search (mapper/__pycache__, ~4 s CPU)
	$(BIN)/python -c "from lowbit.mapper import fast_jit; fast_jit.warm()"
	# and the composite formats' grouped popcount GEMM (kernels_ref/__pycache__, ~1 s CPU)
	$(BIN)/python -c "from lowbit.kernels_ref import popc_jit; popc_jit.warm()"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m lowbit demo

# Debian packages the tests use, installed when missing (root, or passwordless sudo):
# chromium renders the HTML report headless (tests/reports/test_report_render.py); verilator
# simulates and yosys synthesises the RTL models (tests/hwsim/test_rtl*.py).
DEBS := chromium verilator yosys
debs:
	@missing=""; for p in $(DEBS); do command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo -n); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing || \
	  { $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; } || \
	  echo "warning: could not install$$missing"; fi

# The suite runs on two worker processes (pytest-xdist), one per core of the CI machine; a test
# file stays on one worker (--dist loadfile), so a module's fixtures are built once.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadfile

test: $(STAMP) debs
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(XDIST)

# The fast lane: everything but the tests marked slow (demo, MiniLM, chromium, dask, SIGKILL,
# wheel build, RTL builds).
test-fast: $(STAMP) debs
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(XDIST) -m "not slow"

# The reference under docs/reference is generated from the code (a test fails when it is stale);
# the site goes to site/ (mkdocs --strict: a broken link or reference is an error).
docs: $(STAMP)
	$(BIN)/python -m lowbit.docgen
	$(BIN)/mkdocs build --strict

# Thousands of malformed inputs through the CLI under a time budget; counts into benchmarks/RESULTS.md.
FUZZ_BUDGET ?= 300
fuzz: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/fuzz_run.py --budget $(FUZZ_BUDGET)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
