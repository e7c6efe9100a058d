# opsiface.sendmail: set-up, lab, demo and tests. `make help` lists targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
N ?= 5
COLLECTION_LINK := .collections/ansible_collections/opsiface/sendmail
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help venv docker lab-image lab-up lab-down demo test lint unit integration build clean

help:
	@echo "make demo        set up everything on a fresh Debian machine and run the main job on a 3-host lab"
	@echo "make test        the whole test suite (lint, unit, integration, molecule) against lab hosts"
	@echo "make venv        build .venv from requirements.txt (fast when already done)"
	@echo "make lab-up N=5  start N lab hosts mx01..mxNN, write lab/inventory.ini"
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
	$(PYTHON) lab/lab.py up --count $(N)

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
# Integration tests start their own hosts (prefix "it") and remove them at the
# end, whether the tests pass or not.
test: venv lab-image
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit
	status=0; $(MAKE) --no-print-directory integration || status=$$?; \
	  $(PYTHON) lab/lab.py --prefix it --inventory tests/output/inventory.ini down >/dev/null; \
	  exit $$status

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint

unit: venv
	$(BIN)/python -m pytest -q tests/unit

integration: venv lab-image
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/integration

build: venv
	$(BIN)/ansible-galaxy collection build --force

clean:
	rm -rf $(VENV) .collections tests/output .pytest_cache .ruff_cache
