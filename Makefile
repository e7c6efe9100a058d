# opsiface.sendmail: set-up, lab, demo and tests. `make help` lists targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
N ?= 5
CONNECTION ?= docker
COLLECTION_LINK := .collections/ansible_collections/opsiface/sendmail
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help venv docker lab-image lab-up lab-down demo test test-static test-integration lint unit integration build clean ansible-test changelog \
	lint-target-python unit-targets

help:
	@echo "make demo        set up everything on a fresh Debian machine and run the main job on a 3-host lab"
	@echo "make test        the whole test suite (lint, unit, integration, molecule) against lab hosts"
	@echo "make venv        build .venv from requirements.txt (fast when already done)"
	@echo "make lab-up N=5  start N lab hosts mx01..mxNN, write lab/inventory.ini (CONNECTION=ssh: over SSH with sudo)"
	@echo "make lab-down    remove the lab hosts"
	@echo "make build       build the collection tarball"

# --- Python environment -----------------------------------------------------
venv: $(VENV)/.installed $(COLLECTION_LINK)

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

# The checkout itself, seen by ansible.cfg's collections_path as opsiface.sendmail.
$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../.. $@

# --- Lab --------------------------------------------------------------------
docker:
	bash lab/ensure-docker.sh

lab-image: docker
	$(PYTHON) lab/lab.py build

lab-up: lab-image venv
	$(PYTHON) lab/lab.py up --count $(N) --connection $(CONNECTION)

lab-down:
	@if command -v docker >/dev/null && docker info >/dev/null 2>&1; then $(PYTHON) lab/lab.py down; fi

# --- The main job on a 3-host lab -------------------------------------------
# mx01 healthy, mx02 with its daemon stopped, mx03 with a deferred backlog.
demo: lab-image venv
	$(PYTHON) lab/lab.py down
	$(PYTHON) lab/lab.py up --count 3
	$(PYTHON) lab/lab.py fault mx02 service-stop
	$(PYTHON) lab/lab.py fault mx03 backlog --count 40 --age-hours 6 --domains slow.example,gone.example
	$(BIN)/ansible-playbook -i lab/inventory.ini playbooks/healthcheck.yml -e health_check_fail_on=never
	@echo; cat reports/latest/fleet.md | head -n 20
	@echo; echo "demo: the full report is in $$(readlink -f reports/latest) (fleet.md, fleet.html, fleet.json, junit.xml)"

# --- Tests ------------------------------------------------------------------
# Two lanes side by side, one per core: the static lane (lint, unit tests on the controller and on every
# target Python, ansible-test) needs no lab host; the integration lane starts its own hosts (prefix "it")
# and removes them at the end, whether the tests pass or not. Each lane's lines are printed as they come,
# prefixed by make's line sync; the run fails if either lane fails.
test: venv lab-image
	@mkdir -p tests/output
	$(MAKE) --no-print-directory -j2 --output-sync=line test-static test-integration

test-static: venv
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory unit-targets
	$(MAKE) --no-print-directory ansible-test

test-integration: venv lab-image
	status=0; $(MAKE) --no-print-directory integration || status=$$?; \
	  $(PYTHON) lab/lab.py --prefix it --inventory tests/output/inventory-it.ini down >/dev/null; \
	  exit $$status

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python hacking/source_rules.py
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint
	$(BIN)/antsibull-changelog lint
	$(MAKE) --no-print-directory lint-target-python

# Code under plugins/ runs on the managed host's Python, 3.8 and newer (ruff.toml's per-file-target-version
# makes newer syntax an error there); this adds vermin and an AST check for what ruff cannot see.
lint-target-python: venv
	$(BIN)/python hacking/target_python.py lint

unit: venv
	$(BIN)/python -m pytest -q tests/unit lab/tests

# The unit tests of host code under every target Python pyenv has (3.8 to 3.13), two at a time, each in a
# venv cached under ~/.cache/opsiface-sendmail/pyvenvs; logs in tests/output/unit-targets/.
unit-targets: venv
	$(BIN)/python hacking/target_python.py units

integration: venv lab-image
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/integration

build: venv
	$(BIN)/ansible-galaxy collection build --force

# ansible-test runs on the collection as installed from its tarball (a path ending in
# ansible_collections/opsiface/sendmail), outside the checkout so the linters never see it, and
# not under /tmp: the collection refuses private directories under world-writable ones.
# It puts pip into each sanity test's venv with get-pip.py from ci-files.testing.ansible.com,
# which is unreachable here: hacking/get_pip.py does the same from pip's wheel on PyPI.
ANSIBLE_TEST_ROOT ?= $(HOME)/.cache/opsiface-sendmail-ansible-test
ANSIBLE_TEST_DIR := $(ANSIBLE_TEST_ROOT)/ansible_collections/opsiface/sendmail
ANSIBLE_TEST_CACHE := $(HOME)/.ansible/test/cache

ansible-test: venv
	rm -rf $(ANSIBLE_TEST_ROOT) && mkdir -p $(ANSIBLE_TEST_ROOT) $(ANSIBLE_TEST_CACHE)
	$(BIN)/ansible-galaxy collection build --force --output-path $(ANSIBLE_TEST_ROOT) >/dev/null
	cd $(ANSIBLE_TEST_ROOT) && $(CURDIR)/$(BIN)/ansible-galaxy collection install --force -p . opsiface-sendmail-*.tar.gz >/dev/null
	pip=$$($(BIN)/python -c "import importlib.util as u, re; d = u.find_spec('ansible_test').submodule_search_locations[0]; \
	    print(re.search(r\"pip='([0-9.]+)'\", open(d + '/_internal/python_requirements.py').read()).group(1))"); \
	  $(BIN)/python -m pip download -q --disable-pip-version-check --no-deps -d $(ANSIBLE_TEST_CACHE) pip==$$pip && \
	  cp hacking/get_pip.py $(ANSIBLE_TEST_CACHE)/get_pip_$$(echo $$pip | tr . _).py
	cd $(ANSIBLE_TEST_DIR) && $(CURDIR)/$(BIN)/ansible-test sanity --python 3.11
	cd $(ANSIBLE_TEST_DIR) && $(CURDIR)/$(BIN)/ansible-test units --python 3.11

# CHANGELOG.md from changelogs/changelog.yaml and any new fragments (a release: antsibull-changelog release).
changelog: venv
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog generate

clean:
	rm -rf $(VENV) .collections tests/output .pytest_cache .ruff_cache
