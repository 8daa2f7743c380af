"""Served steps: an OpenAI-compatible HTTP server over one loaded ``RoutedModel`` (``agentroute serve``,
``server``), and ``ServedModel`` (``client``), a client with ``RoutedModel``'s ``generate`` that types
each step, sends it to the endpoint serving that type's exported program (``agentroute export``'s
``export.json``; vLLM, SGLang, llama.cpp or ``agentroute serve`` behind each URL) and returns the
same ``GenerationResult`` and ``StepRecord``, so both integrations and ``agentroute.Trace`` run
over served endpoints unchanged. The wire format (OpenAI's chat completions plus a top-level
``"agentroute"`` key carrying the step record) is in ``openai_format``; docs/serving.md says what
holds over HTTP and what does not.
"""

from agentroute.serve.client import ServedModel
from agentroute.serve.endpoints import ServeError

__all__ = ["ServeError", "ServedModel"]
