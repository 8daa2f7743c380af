"""Route programs as standard checkpoints: a layer program is a model, so engines that cannot skip
layers per request (vLLM, SGLang, llama.cpp, Ollama) can still serve each step type its program."""
