# The two commands of the README. Everything installs into .venv in this folder.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NHSUK_FRONTEND_VERSION := 10.6.1
ASSETS := assets/nhsuk
SYSTEM_FONTS_CSS := $(ASSETS)/nhsuk/nhsuk-frontend-system-fonts.min.css
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test bench install install-test assets migrate demo pki clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed assets
install-test: $(VENV)/.installed-test assets

# NHS.UK frontend's compiled CSS, JS and assets, from the npm registry (pinned to the version the
# Jinja macros of nhsuk-frontend-jinja were written for).
# The CSS refers to its icons as /assets/images/...; they are served beside it under static/, so
# those references are made relative to the stylesheet (the stamp names that step, so a checkout
# unpacked before it is unpacked again).
ASSETS_STAMP := $(ASSETS)/.version-$(NHSUK_FRONTEND_VERSION)-relative-urls
assets: $(ASSETS_STAMP) $(SYSTEM_FONTS_CSS)
$(ASSETS_STAMP):
	rm -rf $(ASSETS) && mkdir -p $(ASSETS) build/npm
	cd build/npm && npm pack --silent nhsuk-frontend@$(NHSUK_FRONTEND_VERSION) >/dev/null
	tar -xzf build/npm/nhsuk-frontend-$(NHSUK_FRONTEND_VERSION).tgz -C build/npm
	cp -r build/npm/package/dist/. $(ASSETS)/
	rm -rf build/npm
	sed -i 's#url(/assets/#url(assets/#g' $(ASSETS)/nhsuk/nhsuk-frontend.min.css
	touch $@

# The same CSS without its @font-face rules, which fetch the licensed Frutiger web fonts from
# assets.nhs.uk (the package does not ship them): pages then use the CSS's own fallback, Arial,
# and ask no other host for anything (README: CAREACCESS_NHSUK_WEB_FONTS). The package's own switch,
# $nhsuk-include-font-face, would need a Sass build of the stylesheet. The build fails if a new
# version refers to that host some other way.
$(SYSTEM_FONTS_CSS): $(ASSETS_STAMP)
	sed -E 's/@font-face\{[^}]*\}//g' $(ASSETS)/nhsuk/nhsuk-frontend.min.css > $@.tmp
	! grep -q 'assets\.nhs\.uk' $@.tmp
	mv $@.tmp $@

migrate: install
	$(BIN)/careaccess migrate --no-input

demo: migrate
	$(BIN)/careaccess demo load

# The certificate authority, made once (the CRL at /pki/crl.der and the card pages need it). Its keys
# go under CAREACCESS_VAR (var/ by default, which git ignores): never into the repository.
pki: migrate
	$(BIN)/careaccess pki show >/dev/null 2>&1 || $(BIN)/careaccess pki init

run: demo pki
	$(BIN)/careaccess demo logins
	$(BIN)/careaccess runserver $(HOST):$(PORT)

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install-test
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) assets build
