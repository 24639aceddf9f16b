# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
# Two environments (bot/tools/interpreters.py): .venv for Rasa and the action server (Rasa 3.6 pins
# aiohttp < 3.10), .venv-desk for the desk on a current aiohttp (requirements/desk.txt).
SHELL := /bin/bash
PYTHON_BOOT := $(shell command -v python3.10 2>/dev/null || echo python)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DESK_VENV := .venv-desk
DESK_PY := $(DESK_VENV)/bin/python
DESK_STAMP := $(DESK_VENV)/.installed

.PHONY: run test train lint bench clean cluster bench-cluster

$(PY):
	$(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip wheel setuptools

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(DESK_PY):
	$(PYTHON_BOOT) -m venv $(DESK_VENV)
	$(DESK_PY) -m pip install --quiet --upgrade pip wheel setuptools

# The project without its dependencies: pyproject.toml's are Rasa's environment's.
$(DESK_STAMP): requirements/desk.txt pyproject.toml | $(DESK_PY)
	$(DESK_PY) -m pip install --quiet -r requirements/desk.txt
	$(DESK_PY) -m pip install --quiet --no-deps -e .
	touch $(DESK_STAMP)

run: $(STAMP) $(DESK_STAMP)
	$(PY) -m bot.tools.stack run

# Two of every process behind HAProxy, on PostgreSQL and Redis (deploy/; installs them when missing).
cluster: $(STAMP) $(DESK_STAMP)
	$(PY) -m bot.tools.cluster

train: $(STAMP)
	$(PY) -m bot.tools.stack train

lint: $(STAMP)
	$(VENV)/bin/ruff check bot tests bench

test: $(STAMP) $(DESK_STAMP)
	$(VENV)/bin/ruff check bot tests bench
	$(PY) -m bot.tools.generate --check
	$(PY) -m bot.tools.run_tests

bench: $(STAMP) $(DESK_STAMP)
	$(PY) -m bench.run_all

# Throughput and p95 through HAProxy at 10, 50, 200 conversations, single node in the same run (results/bench_cluster.*).
bench-cluster: $(STAMP) $(DESK_STAMP)
	$(PY) -m bench.cluster

clean:
	rm -rf models results var/*.db var/logs var/endpoints-*.yml var/rasa_token
