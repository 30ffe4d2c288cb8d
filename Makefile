# Development loop for papermerge.backup.  `make help` lists the targets.
#
# Everything a target needs is installed by the target itself: system packages (as root, or with
# sudo), the toolchain in .venv, the Papermerge 2.1.5 host venv (cached in ~/.cache), and the
# collection made importable from this checkout through .cache/collections.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
# The oldest ansible-core meta/runtime.yml supports, for the matrix targets (controller Python 3.9-3.11).
PYTHON_2_15 ?= python3.11
VENV_2_15 := $(CURDIR)/.cache/venv-2.15
COLLECTIONS := $(CURDIR)/.cache/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PATH := $(BIN):$(PATH)

.PHONY: help system-deps venv venv-2.15 collection-link papermerge-venv lint sanity sanity-matrix units units-matrix \
	matrix fuzz integration faults molecule test demo build docs clean

help:
	@echo "make demo         back up a throwaway local Papermerge, show the archive, restore it elsewhere"
	@echo "make test         everything CI runs: lint, sanity and unit tests on ansible-core 2.15 and 2.19 and"
	@echo "                  Python 3.8-3.11, fuzz, integration, fault-injection and Molecule tests"
	@echo "make venv         the development toolchain in .venv"
	@echo "make matrix       sanity-matrix + units-matrix: ansible-core 2.15 and 2.19, Python 3.8 to 3.11"
	@echo "make lint | sanity | units | fuzz | integration | faults | molecule | build | docs"

system-deps:
	@bash scripts/install-system-deps.sh

$(BIN)/.ready: requirements-dev.txt constraints-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints-dev.txt
	touch $@

venv: $(BIN)/.ready collection-link

$(VENV_2_15)/.ready: requirements-dev-2.15.txt constraints-dev-2.15.txt
	rm -rf $(VENV_2_15)
	$(PYTHON_2_15) -m venv $(VENV_2_15)
	$(VENV_2_15)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev-2.15.txt \
		-c constraints-dev-2.15.txt
	touch $@

venv-2.15: $(VENV_2_15)/.ready

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

# ansible-core 2.19 only, on the controller's Python: the quick check while developing.
sanity: venv system-deps
	bash scripts/ansible-test.sh $(VENV) sanity --venv --requirements --python 3.11

units: venv
	$(BIN)/python -m pytest tests/unit

# Doctored archives through archive_info, bounded: tests/fuzz says how (FUZZ_CASES, FUZZ_SECONDS, FUZZ_REPLAY).
fuzz: venv
	$(BIN)/python -m pytest tests/fuzz -q -s -p no:cacheprovider

# Both supported ends of ansible-core (2.15 and 2.19) and every Python a Papermerge 2.1 host may have
# (3.8-3.11): scripts/matrix.sh says what each runs, and what a machine without those Pythons skips.
sanity-matrix: venv venv-2.15 system-deps
	bash scripts/matrix.sh sanity $(VENV_2_15) $(VENV)

units-matrix: venv venv-2.15
	bash scripts/matrix.sh units $(VENV_2_15) $(VENV)

matrix: sanity-matrix units-matrix

integration: venv system-deps papermerge-venv
	$(BIN)/python -m pytest tests/integration -n 2 --durations=15

# Kills, concurrent runs, full and failing disks, dropped connections; ends with one line of figures
# (docs/reliability.md).  Serial: its concurrent pairs and random kills are timed.
faults: venv system-deps papermerge-venv
	$(BIN)/python -m pytest tests/faults --durations=5

molecule: venv system-deps papermerge-venv
	bash scripts/molecule-all.sh

# sanity-matrix includes `make sanity`'s run.
test: system-deps venv lint sanity-matrix units units-matrix fuzz integration faults molecule
	@if grep -hs "NOT RUN" .cache/matrix/*.not-run; then \
		echo "all test stages passed, except the combinations above: this machine lacks their Python"; \
	else echo "all test stages passed"; fi

# The Docker test images, built when missing (the Docker tests also do it): docs/testing-docker.md.
.PHONY: docker-images
docker-images: venv system-deps
	$(BIN)/python tests/support/docker_images.py

demo: system-deps venv papermerge-venv
	bash demo/run.sh

build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path .cache/build .

clean:
	rm -rf .cache .venv tests/output
