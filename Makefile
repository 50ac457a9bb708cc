# Everything a fresh Debian/Ubuntu machine needs: `make demo` and `make test` do their own set-up.
SHELL := /bin/bash
PYTHON_SYS ?= /usr/bin/python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# QGIS 3.22 LTR and what the plugin uses at run time (numpy, pandas come with QGIS on Windows too);
# scipy is used by the tests only, as an independent reference; xvfb for the desktop screenshot; PostgreSQL and
# PostGIS for the team-store tests (a throw-away cluster per test session: tests/postgis.py; postgresql-postgis
# is the extension itself, which mmdebstrap, installing no Recommends, would otherwise leave out); Chromium and
# poppler-utils to open the published profiles (website, PDF) as a reader would; Java runs the Nu Html Checker
# on the website's pages.
APT_PACKAGES := qgis python3-qgis qgis-providers python3-pandas python3-scipy python3-venv python3-pip xvfb \
  postgresql postgis postgresql-postgis chromium poppler-utils default-jre-headless
export QT_QPA_PLATFORM ?= offscreen
export XDG_RUNTIME_DIR ?= /tmp/runtime-$(shell id -u)
# Debian's qgis_process wrapper passes --noversioncheck, which the binary rejects: call the binary.
QGIS_PROCESS := $(shell command -v qgis_process.bin 2>/dev/null || echo qgis_process)
PLUGIN := crime_mapping_plugin
# `make test-ltr`: the same suite under QGIS 3.40 LTR from Debian trixie, in a root made once by mmdebstrap
# (about 1.7 GB, kept until `make clean`; made again only when incomplete or when LTR_PACKAGES change).
LTR_ROOT ?= build/trixie-root
LTR_PYTEST_ARGS ?= tests
LTR_PACKAGES := qgis,python3-qgis,qgis-providers,python3-pandas,python3-scipy,python3-venv,python3-pip,postgresql,postgis,postgresql-postgis,chromium,poppler-utils,default-jre-headless
PROFILE_DIR ?= $(HOME)/.local/share/QGIS/QGIS3/profiles/default
ZIP := $(PLUGIN).zip

.PHONY: help system venv test test-ltr ltr-root lint demo package deploy bench bench-10m clean screenshot

help:
	@echo "make demo     import the bundled police.uk sample data (and run the analyses) into demo_output/"
	@echo "make test     run the test suite against the real QGIS"
	@echo "make test-ltr run the same suite under QGIS 3.40 (Debian trixie root in $(LTR_ROOT), made once)"
	@echo "make lint     ruff check and ruff format --check"
	@echo "make package  build $(ZIP) for QGIS's 'Install from ZIP'"
	@echo "make deploy   install the plugin into the QGIS profile and enable it (also for qgis_process)"
	@echo "make bench    run the benchmarks (ours against QGIS's own algorithms) and remake benchmarks/README.md"
	@echo "make bench-10m  import, density, Gi*, ward rates and trends on 1M and 10M crimes: time and peak memory"
	@echo "make screenshot  drive the dock in the real QGIS desktop under Xvfb: docs/screenshot.png, docs/screenshot_ward_rates.png"

system:
	@if ! $(PYTHON_SYS) -c "import qgis.core, pandas, scipy" 2>/dev/null || ! command -v xvfb-run >/dev/null \
	    || ! $(PYTHON_SYS) -c "import venv, ensurepip" 2>/dev/null || ! command -v chromium >/dev/null \
	    || ! command -v pdftotext >/dev/null || ! command -v java >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	    || ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then \
	  echo "Installing QGIS and its Python packages from the distribution (apt)…"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES); \
	fi

# The venv's stamp is named after the requirements' content, not their modification time: a fresh checkout
# (a git worktree sharing the venv, a CI clone) rebuilds it only when the pins differ.
READY := $(VENV)/.ready-$(shell sha256sum requirements-test.txt | cut -c1-16)

$(READY): | system
	$(PYTHON_SYS) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-test.txt
	rm -f $(VENV)/.ready $(VENV)/.ready-*
	touch $@

venv: $(READY)

test: $(READY)
	$(PY) -m pytest --qgis_disable_gui -p no:cacheprovider tests

# mmdebstrap makes the trixie root, chroot enters it: scripts/test_ltr.sh does both, as root.
ltr-root:
	@command -v mmdebstrap >/dev/null || { echo "Installing mmdebstrap (apt)…"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq mmdebstrap; }
	$(SUDO) scripts/test_ltr.sh root $(LTR_ROOT) $(LTR_PACKAGES)

test-ltr: ltr-root
	$(SUDO) scripts/test_ltr.sh test $(LTR_ROOT) $(LTR_PYTEST_ARGS)

lint: $(READY)
	$(VENV)/bin/ruff check $(PLUGIN) tests benchmarks scripts
	$(VENV)/bin/ruff format --check $(PLUGIN) tests benchmarks scripts

demo: $(READY)
	$(PY) scripts/demo.py sample_data demo_output

package: $(READY)
	$(PY) scripts/package.py $(ZIP)

deploy: package
	$(PY) scripts/package.py $(ZIP) --install "$(PROFILE_DIR)/python/plugins"
	$(QGIS_PROCESS) plugins enable $(PLUGIN)

# Each bench script records its rows in benchmarks/results/<bench>.json; report.py makes benchmarks/README.md's
# tables from them. bench-10m (1M and 10M crimes, about 20 minutes and 3 GB of disk) is not part of bench or CI.
bench: $(READY)
	$(PY) benchmarks/bench_import.py
	$(PY) benchmarks/bench_hotspot_density.py
	$(PY) benchmarks/bench_gistar.py
	$(PY) benchmarks/bench_wardrates.py
	$(PY) benchmarks/bench_postgis.py
	$(PY) benchmarks/bench_etest.py
	$(PY) benchmarks/report.py

bench-10m: $(READY)
	$(PY) benchmarks/bench_10m.py
	$(PY) benchmarks/report.py

clean:
	@if [ -d $(LTR_ROOT) ]; then $(SUDO) scripts/test_ltr.sh unmount $(LTR_ROOT); \
	  $(SUDO) rm -rf --one-file-system $(LTR_ROOT); fi
	rm -rf --one-file-system build $(ZIP) demo_output benchmarks/_work

# The real QGIS desktop under Xvfb, the packaged plugin installed and enabled in a throw-away profile:
# scripts/screenshot.py opens the dock, loads the sample, maps burglary density and saves docs/screenshot.png.
SHOT_PROFILES := build/screenshot_profiles
screenshot: package
	rm -rf $(SHOT_PROFILES) && mkdir -p $(SHOT_PROFILES)/profiles/default/QGIS
	$(PY) scripts/package.py $(ZIP) --install "$(SHOT_PROFILES)/profiles/default/python/plugins"
	printf '[PythonPlugins]\ncrime_mapping_plugin=true\n\n[qgis]\ncheckVersion=false\nshowTips=false\n' \
	  > $(SHOT_PROFILES)/profiles/default/QGIS/QGIS3.ini
	CRIME_MAPPING_SAMPLE="$(CURDIR)/sample_data" CRIME_MAPPING_SHOT="$(CURDIR)/docs/screenshot.png" \
	  CRIME_MAPPING_SHOT_RATES="$(CURDIR)/docs/screenshot_ward_rates.png" QT_QPA_PLATFORM=xcb \
	  xvfb-run -a -s "-screen 0 1600x1000x24" qgis --nologo --noversioncheck \
	  --profiles-path "$(CURDIR)/$(SHOT_PROFILES)" --code scripts/screenshot.py
