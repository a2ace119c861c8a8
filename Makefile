# Inferno: `make demo` and `make test` bootstrap everything they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NEWMAN := .tools/newman/node_modules/.bin/newman
NEWMAN_VERSION := 6.2.2
# The clients area's libraries, outside the main environment: the [clients] extra, and
# instructor on its own (its jiter pin clashes with the newest openai).
CLIENTS_PY := .tools/clients/bin/python
CLIENTS_STAMP := .tools/clients/.installed
INSTRUCTOR_PY := .tools/clients-instructor/bin/python
INSTRUCTOR_VERSION := 1.17.0
PYTEST_ARGS ?=

.PHONY: demo test test-fast lint format model newman postman compat bench reliability clean help clients-env

help:
	@echo "make demo   - start the reference server on the tiny model, run the suite and a load profile"
	@echo "make test   - run all tests (what CI runs)"
	@echo "make test-fast - the inner loop: everything but the tests marked slow (under a minute)"
	@echo "make lint   - ruff check and format check"
	@echo "make bench  - reference server vs llama-cpp-python's server, llama-server and the batched example server (first run builds llama-server)"
	@echo "make compat - compliance suite against all four servers, writes docs/compatibility.md"
	@echo "make reliability - fuzz volume, soak, client faults, overload, hostile servers; writes docs/reliability.md"
	@echo "make clients-env - the environments the clients area runs client libraries in (.tools/)"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools>=77" wheel
	$(PY) -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

model: $(STAMP)
	$(PY) -m reference_server tiny-model

$(NEWMAN):
	npm install --silent --no-audit --no-fund --prefix .tools/newman newman@$(NEWMAN_VERSION)

newman: $(NEWMAN)

$(CLIENTS_STAMP): pyproject.toml
	test -x $(CLIENTS_PY) || $(PYTHON) -m venv .tools/clients
	$(CLIENTS_PY) -m pip install --quiet -e '.[clients]'
	touch $(CLIENTS_STAMP)

$(INSTRUCTOR_PY):
	$(PYTHON) -m venv .tools/clients-instructor
	$(INSTRUCTOR_PY) -m pip install --quiet "instructor==$(INSTRUCTOR_VERSION)"

clients-env: $(CLIENTS_STAMP) $(INSTRUCTOR_PY)

postman: $(STAMP)
	$(PY) -m postman.generate

bench: model
	$(PY) -m benchmarks $(BENCH_ARGS)

compat: model clients-env
	$(PY) -m benchmarks.compat

reliability: model
	$(PY) -m benchmarks.reliability $(RELIABILITY_ARGS)

demo: model
	$(PY) -m inferno.demo

test: model newman clients-env
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest tests -p no:cacheprovider $(PYTEST_ARGS)

test-fast: model
	$(PY) -m pytest tests -p no:cacheprovider -m "not slow" -q -n auto $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf $(VENV) .tools build *.egg-info
