# Rosetta: `make export` and `make test` work on a fresh clone; both set up .venv and node deps first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := js/node_modules/.installed

include k8s/k8s.mk
include serving/tfserving/tfserving.mk
include serving/onnx/image.mk

.PHONY: help venv lock node export train site chromium cxx wrk test test-fast bench serve bench-serve zoo zoo-pretrained zoo-large zoo-2gb clean

help:
	@echo "make export   train both built-in models in every lane, export and validate every cell (creates .venv if missing)"
	@echo "make test     the full test suite (fast tests + end-to-end ones marked slow)"
	@echo "make zoo      public architectures and pretrained networks through rosetta export: artifacts/zoo/coverage.md"
	@echo "make zoo-pretrained  only the pretrained networks (weights from PyPI wheels): artifacts/zoo-pretrained/"
	@echo "make bench    per-artifact latency/throughput benchmark and the jax.jit comparison"
	@echo "make serve    the ONNX Runtime server (v2 REST/gRPC + TF Serving REST) on 127.0.0.1:8080/8081"
	@echo "make bench-serve  load benchmark of that server beside MLServer, against its serving targets (loopback, wrk + h2load, ~3 min)"
	@echo "make lock     re-lock every environment with uv after a dependency change (requirements.lock and the side venvs' locks)"
	@echo "make deploy ENV=dev|prod  kubectl apply -k k8s/overlays/ENV; make k8s-check renders and lints them"

# One step installs everything: requirements.lock is the environment's whole closure (uv's output, with hashes),
# so pip installs it with --no-deps and resolves nothing; then the project itself, editable, with the lock's
# setuptools. `make lock` re-locks after a change to pyproject.toml or requirements-nodeps.txt.
$(VENV_STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q pip==26.3  # pip 23 (the venv default) installs this set far slower
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

venv: $(VENV_STAMP)

# uv (in a venv of its own) compiles every lock; the images' requirement files are then cut from the project lock.
LOCK_VENV := .venv-lock
$(LOCK_VENV)/bin/uv:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q uv==0.13.8

lock: $(LOCK_VENV)/bin/uv
	$(LOCK_VENV)/bin/python -m tools.lock compile $(LOCK_VENV)/bin/uv
	$(MAKE) venv
	$(BIN)/python -m tools.lock derive

$(NODE_STAMP): js/package.json js/package-lock.json
	cd js && npm ci --no-audit --no-fund
	touch $@

node: $(NODE_STAMP)

train: venv
	$(BIN)/rosetta train

# A run whose inputs are unchanged is skipped (rosetta train / export say "up to date"); FORCE=1 redoes all.
export: venv node
	$(BIN)/rosetta train $(if $(FORCE),--force)
	$(BIN)/rosetta export $(if $(FORCE),--force)
	$(MAKE) tfserving-stage
	$(BIN)/rosetta site

site: venv node
	$(BIN)/rosetta site

# Debian's Chromium for the browser-demo test (Playwright drives it; it never downloads a browser).
chromium:
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

# A C++ compiler: torch.compile's Inductor backend builds its CPU kernels with it (make bench, the compile-bench test).
cxx:
	command -v g++ >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y g++)

test: venv node chromium cxx k8s-check tfserving-venv onnx-image-venv
	$(BIN)/pytest

test-fast: venv node cxx
	$(BIN)/pytest -m "not slow"

bench: venv node cxx
	$(BIN)/python -m benchmarks.artifacts

serve: venv
	$(BIN)/rosetta serve

# The serve benchmark's load generators (C, so the client does not eat the server's CPU): wrk for REST,
# h2load (nghttp2-client) for gRPC.
wrk:
	command -v wrk >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk)
	command -v h2load >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nghttp2-client)

# ~3 minutes (+1-2 the first time, installing MLServer into .venv-mlserver): see serving/README.md, "Load benchmark".
BENCH_MODEL ?= mnist-mlp-torch
bench-serve: venv wrk
	$(BIN)/python -m benchmarks.serving.bench --model $(BENCH_MODEL)

# Architectures nobody here wrote and pretrained networks from PyPI wheels (zoo/), each through `rosetta export`,
# then the model x format coverage grid with the pretrained summary.
zoo: venv node
	$(BIN)/python -m rosetta.zoo.run --set all --artifacts artifacts/zoo

# The pretrained networks alone (weights shipped in their wheels, realistic synthesized inputs).
zoo-pretrained: venv node
	$(BIN)/python -m rosetta.zoo.run --set pretrained --artifacts artifacts/zoo-pretrained

# Full-size architectures (ResNet-50, BERT-base) with random weights, every cell timed and its peak RSS recorded:
# artifacts/zoo-large/large.md. Not part of make test (~30 min on 2 cores).
zoo-large: venv node
	$(BIN)/python -m rosetta.zoo.large --artifacts artifacts/zoo-large

# A model past 2 GiB of float weights (a 554M-parameter wide MLP, torch and Keras): ONNX with external data served by
# the ORT server, SavedModel, sharded TF.js; TFLite refuses it in one line. Needs ~10 GB of free memory.
zoo-2gb: venv node
	$(BIN)/python -m rosetta.zoo.large --huge --artifacts artifacts/zoo-2gb
	$(BIN)/python -m benchmarks.serving.serve_check --artifacts artifacts/zoo-2gb

clean:
	rm -rf artifacts
