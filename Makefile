# Two commands set up a fresh machine (only Python >= 3.11, make and git assumed, and for the browser
# test Debian's apt-get, as root or with sudo, when Chromium is not installed yet):
#   make demo   installs everything into .venv and runs the main job on the embedded default
#   make test   installs everything into .venv and runs lint, type checks and the tests (CI runs this)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml sandbox/pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: setup demo demo-keep test lint typecheck pytest bench clean

$(STAMP): pyproject.toml sandbox/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "q2c needs Python >= 3.11; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The product, its dev tools, and the sandboxes (their own distribution, q2c-sandbox, left out of the image).
	$(BIN)/python -m pip install --quiet -e ./sandbox -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# The reconciliation report's browser test (Playwright) drives this Chromium; Playwright's own browser
# download (`playwright install`) is never used. Elsewhere than Debian, install Chromium yourself and
# point Q2C_CHROMIUM at it (the test reads the same variable).
export Q2C_CHROMIUM ?= /usr/bin/chromium
SUDO = $(if $(filter 0,$(shell id -u)),,sudo)

$(Q2C_CHROMIUM):
	@command -v apt-get >/dev/null || { echo "No Chromium at $(Q2C_CHROMIUM) and no apt-get to install it: install Chromium and run make with Q2C_CHROMIUM=/path/to/chromium" >&2; exit 1; }
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
	@test -x $(Q2C_CHROMIUM) || { echo "apt-get installed chromium but $(Q2C_CHROMIUM) is not there: set Q2C_CHROMIUM to its path" >&2; exit 1; }

setup: $(STAMP)

demo: setup
	$(BIN)/q2c demo

demo-keep: setup
	$(BIN)/q2c demo --keep-running

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy .

pytest: setup $(Q2C_CHROMIUM)
	$(BIN)/pytest

test: lint typecheck pytest

clean:
	rm -rf .data
