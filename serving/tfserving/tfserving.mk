# TF Serving targets; included by the top-level Makefile.
# tfserving-venv: a side virtualenv with the tensorflow-cpu release the TF Serving image is built on, derived
# from the Dockerfile's FROM line (bump the image -> a new venv, and the SavedModel check runs against its TF),
# installed from requirements.lock (its tensorflow-cpu is the Dockerfile's tag: a test checks it).
# The tests load every SavedModel the image bakes in with it (tests/serving/test_tfserving.py).
# tfserving-stage: models.config + the SavedModels in TF Serving layout, the one directory the image copies.
TFSERVING_PREV_DEFAULT_GOAL := $(.DEFAULT_GOAL)
PYTHON ?= python3.11
TFSERVING_DOCKERFILE := serving/tfserving/Dockerfile
TFSERVING_TF := $(shell sed -n -E 's|^FROM tensorflow/serving:([0-9]+\.[0-9]+\.[0-9]+)[[:space:]]*$$|\1|p' $(TFSERVING_DOCKERFILE))
TFSERVING_VENV := .venv-tfserving-$(TFSERVING_TF)
TFSERVING_LOCK := serving/tfserving/requirements.lock
TFSERVING_STAMP := $(TFSERVING_VENV)/.installed

.PHONY: tfserving-venv tfserving-stage

$(TFSERVING_STAMP): $(TFSERVING_LOCK)
	@test -n "$(TFSERVING_TF)" || { echo "$(TFSERVING_DOCKERFILE): no 'FROM tensorflow/serving:X.Y.Z' line" >&2; exit 1; }
	test -x $(TFSERVING_VENV)/bin/python || $(PYTHON) -m venv $(TFSERVING_VENV)
	$(TFSERVING_VENV)/bin/pip install -q pip==26.3
	$(TFSERVING_VENV)/bin/pip install -q --require-hashes -r $(TFSERVING_LOCK)
	touch $@

tfserving-venv: $(TFSERVING_STAMP)

tfserving-stage:
	$(BIN)/python -m rosetta.serving.tfserving.config --artifacts artifacts --out artifacts/tfserving

# Included at the top of a Makefile, the stamp rule above would otherwise become its default goal.
.DEFAULT_GOAL := $(TFSERVING_PREV_DEFAULT_GOAL)
