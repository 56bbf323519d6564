# Two commands: `make demo` and `make test` (each sets up .venv first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench bench-volume lint setup clean browser

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23.2"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/loggvern demo --fresh demo-store

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 --dist loadfile -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest_bench.py
	$(BIN)/python benchmarks/stage_profile.py
	$(BIN)/python benchmarks/ledger_verify_bench.py
	$(BIN)/python benchmarks/query_session_bench.py
	$(BIN)/python benchmarks/service_bench.py

# Generates a ~1 GB and a 5 GB input (about 6 GB of disk at most at once, removed
# afterwards) and ingests each: about 10 minutes on 2 cores.
bench-volume: $(STAMP)
	$(BIN)/python benchmarks/volume_bench.py

# Headless Chromium (Debian package) for the report screenshot test; best effort: where it
# cannot be installed, that one test is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (timeout 300 apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive \
	      timeout 600 apt-get install -y -q chromium >/dev/null 2>&1) ; } \
	  || echo "chromium not installed: the report screenshot test will be skipped"

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) demo-store demo-store-input demo-store-report .pytest_cache
