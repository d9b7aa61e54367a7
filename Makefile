# The two set-up commands: `make demo` and `make test`. Each creates .venv if needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench bench-cluster bench-market lint clean

$(BIN)/python:
	@echo "making the virtual environment $(VENV) (once)"
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml setup.py csrc/ed25519_batch.c | $(BIN)/python
	@echo "installing pownode and its dependencies into $(VENV) (once, a few minutes: numba, pandapower, pvlib, ...)"
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pownode demo

lint: $(STAMP)
	$(BIN)/lint-imports

# Three pytest sessions at once (tests/run_groups.py): most of the suite's time is clusters waiting on blocks.
test: lint
	$(BIN)/python tests/run_groups.py -q --durations=20

bench: $(STAMP)
	$(BIN)/python -m benchmarks.ledger
	$(BIN)/python benchmarks/consensus_sim.py
	$(BIN)/python benchmarks/vm.py
	$(BIN)/python benchmarks/vm_pricing.py
	$(BIN)/python benchmarks/clearing.py
	$(BIN)/python benchmarks/node_path.py

# Real local clusters: pbft, pos, poe x 4, 7 and 16 nodes, as fast as each accepts (20 s runs; the 16-node ones start slowest).
bench-cluster: $(STAMP)
	$(BIN)/pownode bench --matrix --open-loop --duration 20 --json bench-matrix.json --png bench-matrix.png

# Market windows of 500, 2,000 and 10,000 orders through the contract on a 4-node cluster (about 2 minutes).
bench-market: $(STAMP)
	$(BIN)/python benchmarks/market_window.py --json bench-market.json

clean:
	rm -rf $(VENV) build *.egg-info
