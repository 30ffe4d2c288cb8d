# Development loop for papermerge.backup.  `make help` lists the targets.
#
# Everything a target needs is installed by the target itself: system packages (as root, or with
# sudo), the toolchain in .venv, the Papermerge 2.1.5 host venv (cached in ~/.cache), and the
# collection made importable from this checkout through .cache/collections.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
COLLECTIONS := $(CURDIR)/.cache/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PATH := $(BIN):$(PATH)

.PHONY: help system-deps venv collection-link papermerge-venv lint sanity units integration faults molecule test demo build docs clean

help:
	@echo "make demo         back up a throwaway local Papermerge, show the archive, restore it elsewhere"
	@echo "make test         everything CI runs: lint, sanity, unit, integration, fault-injection and Molecule tests"
	@echo "make venv         the development toolchain in .venv"
	@echo "make lint | sanity | units | integration | faults | molecule | build | docs"

system-deps:
	@bash scripts/install-system-deps.sh

$(BIN)/.ready: requirements-dev.txt constraints-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints-dev.txt
	touch $@

venv: $(BIN)/.ready collection-link

# The collection loads from the checkout: ansible_collections/papermerge/backup points back here.
collection-link:
	@mkdir -p $(COLLECTIONS)/ansible_collections/papermerge
	@ln -sfn $(CURDIR) $(COLLECTIONS)/ansible_collections/papermerge/backup

papermerge-venv:
	@bash tests/support/build_papermerge_venv.sh >/dev/null

lint: venv
	$(BIN)/ansible-lint --profile production
	$(BIN)/antsibull-changelog lint
	$(BIN)/python scripts/render_reference_docs.py --check

# docs/reference/ is generated from DOCUMENTATION/RETURN and meta/argument_specs.yml.
docs: venv
	$(BIN)/python scripts/render_reference_docs.py

sanity: venv
	bash scripts/ansible-test-sanity.sh

units: venv
	$(BIN)/python -m pytest tests/unit

integration: venv system-deps papermerge-venv
	$(BIN)/python -m pytest tests/integration -n 2 --durations=15

# Kills, concurrent runs, full and failing disks, dropped connections; ends with one line of figures
# (docs/reliability.md).  Serial: its concurrent pairs and random kills are timed.
faults: venv system-deps papermerge-venv
	$(BIN)/python -m pytest tests/faults --durations=5

molecule: venv system-deps papermerge-venv
	bash scripts/molecule-all.sh

test: system-deps venv lint sanity units integration faults molecule
	@echo "all test stages passed"

demo: system-deps venv papermerge-venv
	bash demo/run.sh

build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path .cache/build .

clean:
	rm -rf .cache .venv tests/output
