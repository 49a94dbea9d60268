# The ORT server image without Docker; included by the top-level Makefile.
# onnx-image-venv: a clean virtualenv holding exactly serving/onnx/requirements.txt (what the image pip-installs),
# so tests/serving/test_onnx_image.py can lay the image's files out and run its ENTRYPOINT on that set alone:
# a package the image lacks fails the test. The stamp is keyed on the requirements' content, and a changed file
# rebuilds the venv from scratch (a leftover package from the old set would hide a missing one).
ONNX_IMAGE_PREV_DEFAULT_GOAL := $(.DEFAULT_GOAL)
PYTHON ?= python3.11
ONNX_IMAGE_REQUIREMENTS := serving/onnx/requirements.txt
ONNX_IMAGE_VENV := .venv-onnx-image
ONNX_IMAGE_KEY := $(shell sha256sum $(ONNX_IMAGE_REQUIREMENTS) | cut -c1-16)
ONNX_IMAGE_STAMP := $(ONNX_IMAGE_VENV)/.installed-$(ONNX_IMAGE_KEY)

.PHONY: onnx-image-venv

$(ONNX_IMAGE_STAMP):
	rm -rf $(ONNX_IMAGE_VENV)
	$(PYTHON) -m venv $(ONNX_IMAGE_VENV)
	$(ONNX_IMAGE_VENV)/bin/pip install -q --disable-pip-version-check --require-hashes -r $(ONNX_IMAGE_REQUIREMENTS)
	touch $@

onnx-image-venv: $(ONNX_IMAGE_STAMP)

# Included at the top of a Makefile, the stamp rule above would otherwise become its default goal.
.DEFAULT_GOAL := $(ONNX_IMAGE_PREV_DEFAULT_GOAL)
