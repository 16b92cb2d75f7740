# Threadline: `make demo` sets up a fresh Debian machine (as root) and runs the engine;
# `make test` installs everything and runs every test, including the real-Asterisk ones.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# SIP test peers and the chroot builder; Asterisk itself lives in a Debian sid chroot, never on the host.
# podman and runc (bookworm's own) build and run docker-compose.yml in tests/integration/test_containers.py.
APT_PACKAGES := debootstrap baresip-core sip-tester sox espeak-ng postgresql postgresql-client chromium fonts-noto-cjk podman runc

.PHONY: demo test install system-packages postgres python web-vendor asterisk-up asterisk-down clean

# The sample contact centre (threadline run --demo; see README "Try it: make demo"). Not for real deployments.
# DEMO_FLAGS=--new-passwords issues fresh demo passwords (printed once).
demo: install asterisk-up
	$(BIN)/threadline db upgrade
	$(BIN)/threadline run --demo $(DEMO_FLAGS)

test: install
	$(BIN)/pytest

install: system-packages postgres python web-vendor

system-packages:
	@if [ "$$(id -u)" != 0 ]; then echo "make: run as root (apt-get, debootstrap and chroot need it)" >&2; exit 1; fi
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -m venv --help >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The PostgreSQL tests need a server and a role for root that may create databases.
postgres:
	@pg_isready -q || { for v in $$(ls /etc/postgresql); do pg_ctlcluster --skip-systemctl-redirect $$v main start; done; sleep 2; }
	@pg_isready -q || { echo "make: PostgreSQL is not running; start it (pg_ctlcluster VERSION main start)" >&2; exit 1; }
	@su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='root'\"" | grep -q 1 \
	  || su postgres -c "createuser --superuser root"

python: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# The browser libraries, SIP.js (the browser phone) and Chart.js (the supervisor's and reports' charts):
# package-lock.json pins them with their integrity; the engine serves them from node_modules/.
web-vendor: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

asterisk-up: install
	$(BIN)/threadline asterisk up

asterisk-down:
	$(BIN)/threadline asterisk down

clean: asterisk-down
	rm -rf $(VENV) .pytest_cache .mypy_cache node_modules
