"""The model stage: loading weights (default model, GGUF, quantization, dtype), the one module that
knows transformers internals (``hf_parts``), the layer-program executor and its KV cache, and the
per-layer calibration that scores programs."""
