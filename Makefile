# Inferno: `make demo` and `make test` bootstrap everything they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NEWMAN := .tools/newman/node_modules/.bin/newman
# The clients area's libraries, outside the main environment: the [clients] extra, and
# instructor on its own (its jiter pin clashes with the newest openai).
CLIENTS_PY := .tools/clients/bin/python
CLIENTS_STAMP := .tools/clients/.installed
INSTRUCTOR_PY := .tools/clients-instructor/bin/python
INSTRUCTOR_STAMP := .tools/clients-instructor/.installed
PYTEST_ARGS ?=
# Our own runs install exact versions from the committed lock (`make lock` refreshes it);
# `make test-latest` installs the newest release of everything instead.
LOCK := lock/constraints.txt
# Bootstrap installs leave compiling to Python, which caches only the modules a run imports (most
# of a site-packages never is).
PIP_FLAGS := --quiet --no-compile
INSTRUCTOR_LOCK := lock/instructor.txt
UV_VERSION := 0.13.9
UV := .tools/uv/bin/uv
LOCK_FLAGS := --universal --python-version 3.11 --quiet
LATEST := .tools/latest
LATEST_PY := $(LATEST)/bin/python
LATEST_CLIENTS_PY := $(LATEST)-clients/bin/python
LATEST_INSTRUCTOR_PY := $(LATEST)-instructor/bin/python
# Every pip run inside the tests (the packaging test's fresh virtualenvs) installs from the lock.
LOCKED := PIP_CONSTRAINT=$(CURDIR)/$(LOCK)
# Most tests wait on servers, not on the CPU: spread them over more workers than cores. Each
# module stays on one worker (loadscope): the catalogue's and the hostile suite runs' module
# fixtures run once, not once per worker. The few timing-sensitive tests (marker serial) run
# alone afterwards.
TEST_WORKERS ?= 4
# Python may cache compiled modules here even where the environment says not to: the tests start
# some hundred Python processes (servers, suite runs), and pytest rewrites the assertions of every
# plugin's whole distribution (hypothesis, schemathesis...) in each one unless the result is cached.
unexport PYTHONDONTWRITEBYTECODE
SPREAD := -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder
# test-latest runs the tests marked third_party (openai SDK, client libraries, schemathesis,
# Locust, Sanic, ...) with the newest client libraries too.
LATEST_ENV := INFERNO_CLIENTS_PYTHON=$(CURDIR)/$(LATEST_CLIENTS_PY),$(CURDIR)/$(LATEST_INSTRUCTOR_PY)

.PHONY: bootstrap demo test test-fast test-latest lock lint format model newman postman compat bench reliability clean help clients-env

help:
	@echo "make demo   - start the reference server on the tiny model, run the suite and a load profile"
	@echo "make test   - run all tests (what CI runs)"
	@echo "make test-fast - the inner loop: everything but the tests marked slow (under a minute)"
	@echo "make test-latest - the newest release of every dependency, in .tools/latest: the tests touching third-party APIs"
	@echo "make lock   - refresh lock/*.txt (exact versions every other target installs) from pyproject.toml"
	@echo "make lint   - ruff check and format check"
	@echo "make bench  - reference server vs llama-cpp-python's server, llama-server and the batched example server (first run builds llama-server)"
	@echo "make compat - compliance suite against all five servers (the four and LiteLLM's proxy in front of ours), also under the openresponses profile; writes docs/compatibility.md"
	@echo "make reliability - fuzz volume, soak, client faults, overload, hostile servers, bad configuration, embeddings beside streams; writes docs/reliability.md"
	@echo "make clients-env - the environments the clients area runs client libraries in (.tools/)"

$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) -c $(LOCK) pip setuptools wheel
	$(PY) -m pip install $(PIP_FLAGS) -c $(LOCK) -e '.[all,dev]'
	touch $(STAMP)

model: $(STAMP)
	$(PY) -m reference_server tiny-model

# newman and its whole tree at the versions in lock/newman/package-lock.json.
$(NEWMAN): lock/newman/package.json lock/newman/package-lock.json
	mkdir -p .tools/newman
	cp lock/newman/package.json lock/newman/package-lock.json .tools/newman/
	npm ci --silent --no-audit --no-fund --prefix .tools/newman
	touch $(NEWMAN)

newman: $(NEWMAN)

$(CLIENTS_STAMP): pyproject.toml $(LOCK)
	test -x $(CLIENTS_PY) || $(PYTHON) -m venv .tools/clients
	$(CLIENTS_PY) -m pip install $(PIP_FLAGS) -c $(LOCK) -e '.[clients]'
	touch $(CLIENTS_STAMP)

$(INSTRUCTOR_STAMP): lock/instructor.in $(INSTRUCTOR_LOCK)
	test -x $(INSTRUCTOR_PY) || $(PYTHON) -m venv .tools/clients-instructor
	$(INSTRUCTOR_PY) -m pip install $(PIP_FLAGS) -c $(INSTRUCTOR_LOCK) -r lock/instructor.in
	touch $(INSTRUCTOR_STAMP)

$(UV):
	$(PYTHON) -m venv .tools/uv
	.tools/uv/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

# Every extra, resolved together for Python >= 3.11 on every platform; instructor's own; newman's tree.
lock: $(UV)
	$(UV) pip compile pyproject.toml lock/tools.in --all-extras $(LOCK_FLAGS) --upgrade -o $(LOCK)
	$(UV) pip compile lock/instructor.in $(LOCK_FLAGS) --upgrade -o $(INSTRUCTOR_LOCK)
	rm -f lock/newman/package-lock.json
	cd lock/newman && npm install --package-lock-only --silent --no-audit --no-fund

clients-env: $(CLIENTS_STAMP) $(INSTRUCTOR_STAMP)

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

# The environments install side by side: pip spends much of its time waiting on the index and
# unpacking, so three installs on two cores take little more than the longest alone.
bootstrap:
	$(MAKE) --no-print-directory -j3 model newman clients-env

test: bootstrap
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(LOCKED) $(PY) -m pytest tests -p no:cacheprovider -m "not serial" $(SPREAD) $(PYTEST_ARGS)
	$(LOCKED) $(PY) -m pytest tests -p no:cacheprovider -m serial $(PYTEST_ARGS)

# The weekly job: a fresh environment with the newest release of every dependency (no lock).
test-latest: model newman
	rm -rf $(LATEST) $(LATEST)-clients $(LATEST)-instructor
	$(PYTHON) -m venv $(LATEST)
	$(LATEST_PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(LATEST_PY) -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[all,dev]'
	$(PYTHON) -m venv $(LATEST)-clients
	$(LATEST_CLIENTS_PY) -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[clients]'
	$(PYTHON) -m venv $(LATEST)-instructor
	$(LATEST_INSTRUCTOR_PY) -m pip install --quiet --upgrade instructor
	$(LATEST_PY) -m pip list --format=freeze
	$(LATEST_ENV) $(LATEST_PY) -m pytest tests -p no:cacheprovider -m "third_party and not serial" $(SPREAD) $(PYTEST_ARGS)
	$(LATEST_ENV) $(LATEST_PY) -m pytest tests -p no:cacheprovider -m "third_party and serial" $(PYTEST_ARGS)

test-fast: model
	$(LOCKED) $(PY) -m pytest tests -p no:cacheprovider -m "not slow" -q -n auto $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf $(VENV) .tools build *.egg-info
