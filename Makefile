# One command sets up and tests, one runs the quickstart. Needs only Python 3.11 and make.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install services test test-jax test-fast quickstart lint clean secrets lock

# The venv holds the versions the tests last passed on (docker/requirements/dev.lock, CI's
# too); `make install CONSTRAINTS=` takes the newest that pyproject allows, then `make lock`.
CONSTRAINTS ?= -c docker/requirements/dev.lock

$(STAMP): pyproject.toml docker/requirements/dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' $(CONSTRAINTS)
	touch $(STAMP)

install: $(STAMP)

# A second venv with the `jax` extra and no TensorFlow (1.8 GB, about a minute to install): what
# `pip install 'gru-search[jax]'` gives a user. Only tests/jax_only runs there; the main run
# leaves that folder out (pyproject's norecursedirs).
JAX_VENV  := .venv-jax
JAX_STAMP := $(JAX_VENV)/.installed

$(JAX_STAMP): pyproject.toml docker/requirements/dev.lock
	test -x $(JAX_VENV)/bin/python || $(PYTHON) -m venv $(JAX_VENV)
	$(JAX_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(JAX_VENV)/bin/python -m pip install --quiet -e '.[jax]' pytest pytest-timeout $(CONSTRAINTS)
	touch $(JAX_STAMP)

# PostgreSQL's server binaries for the cluster tests (Debian's package; needs root).
services:
	bash .ci/install-services

# The whole suite: unit + integration on TensorFlow, then the cells suite and every
# architecture of the default space again on JAX, then a whole search without TensorFlow.
test: $(STAMP) services
	$(BIN)/ruff check cells space search tests benchmarks
	$(BIN)/ruff format --check cells space search tests benchmarks
	KERAS_BACKEND=tensorflow $(BIN)/python -m pytest
	KERAS_BACKEND=jax $(BIN)/python -m pytest tests/cells -m "not slow"
	KERAS_BACKEND=jax $(BIN)/python -m pytest tests/search/test_space_contract.py
	$(MAKE) test-jax

# A whole search, pull and serving on JAX in the venv without TensorFlow (about 1.5 minutes).
test-jax: $(JAX_STAMP)
	KERAS_BACKEND=jax $(JAX_VENV)/bin/python -m pytest tests/jax_only

# Unit tests only (seconds to a few minutes): no services, no slow tests.
test-fast: $(STAMP)
	KERAS_BACKEND=tensorflow $(BIN)/python -m pytest -m "not slow and not integration and not cluster"

quickstart: $(STAMP)
	$(BIN)/gru-search run examples/quickstart.yaml

lint: $(STAMP)
	$(BIN)/ruff check cells space search tests benchmarks
	$(BIN)/ruff format --check cells space search tests benchmarks

# Fresh secrets for the compose stack in ./secrets (git ignores them); an existing one is kept,
# so a running stack's database and admin password stay valid. Delete a file to rotate it.
# The folder is private to you; the files are world-readable because compose bind-mounts them
# with their mode and the containers read them as their own users (gru, postgres).
SECRETS := postgres_password mlflow_admin_password mlflow_secret_key ray_auth_token
secrets:
	@mkdir -p secrets && chmod 700 secrets
	@for name in $(SECRETS); do \
		if [ ! -s secrets/$$name ]; then \
			(umask 022; $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(32), end='')" > secrets/$$name); \
			echo "wrote secrets/$$name"; \
		fi; \
	done

# The lock files (the images', and dev.lock for `make install`), from the venv the tests ran in.
lock: $(STAMP)
	$(BIN)/python docker/lock.py

clean:
	rm -rf $(VENV) $(JAX_VENV) .pytest_cache .ruff_cache
