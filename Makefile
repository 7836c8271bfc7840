# The two commands a newcomer runs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast clean chromium

$(BIN)/python:
	$(PY) -m venv $(VENV)

# torch==2.13.0 first: on this machine it is a local CPU build; any other spec pulls GBs of CUDA.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,real,dist]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m lowbit demo

# Headless Chromium renders the HTML report in tests/reports/test_report_render.py (Debian's
# `chromium`); installed here when missing (root, or passwordless sudo), else that test skips.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo -n); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium || \
	  { $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } || \
	  echo "warning: could not install chromium; the report render test will be skipped"; }

test: $(STAMP) chromium
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

# The fast lane: everything but the tests marked slow (demo, MiniLM, chromium, dask, SIGKILL,
# wheel build, RTL builds).
test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
