# Kubernetes targets; included by the top-level Makefile (`include k8s/k8s.mk`), or run alone with
# `make -f k8s/k8s.mk k8s-check`. checkov's pinned dependencies clash with TensorFlow's, so the linters
# live in their own venv.
K8S_PREV_DEFAULT_GOAL := $(.DEFAULT_GOAL)
PYTHON ?= python3.11
ENV ?= dev
K8S_VENV := .venv-k8s
K8S_STAMP := $(K8S_VENV)/.installed
K8S_REQUIREMENTS := tools/k8s-check/requirements.lock
# The kubectl on PATH if there is one, else the pinned wheel in the tools venv.
KUBECTL_ON_PATH := $(shell command -v kubectl)
KUBECTL ?= $(or $(KUBECTL_ON_PATH),$(K8S_VENV)/bin/kubectl)

.PHONY: k8s-venv k8s-check deploy

# pip is pinned and upgraded first: the venv's bundled pip 23 takes twice as long on this set.
$(K8S_STAMP): $(K8S_REQUIREMENTS)
	test -x $(K8S_VENV)/bin/python || $(PYTHON) -m venv $(K8S_VENV)
	$(K8S_VENV)/bin/pip install -q pip==26.3
	$(K8S_VENV)/bin/pip install -q --require-hashes -r $(K8S_REQUIREMENTS)
	touch $@

k8s-venv: $(K8S_STAMP)

k8s-check: $(K8S_STAMP)
	KUBECTL=$(KUBECTL) K8S_VENV=$(K8S_VENV) tools/k8s-check/check.sh

deploy: $(if $(KUBECTL_ON_PATH),,$(K8S_STAMP))
	$(KUBECTL) apply -k k8s/overlays/$(ENV)

# Included at the top of a Makefile, the stamp rule above would otherwise become its default goal.
.DEFAULT_GOAL := $(K8S_PREV_DEFAULT_GOAL)
