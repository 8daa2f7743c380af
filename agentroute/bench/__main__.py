"""``python -m agentroute.bench memory-probe WEIGHTS``: one fresh-process memory measurement, as JSON;
``python -m agentroute.bench llama-cpp GGUF REPEATS NEW_TOKENS`` (prompt ids as JSON on stdin): one
llama.cpp decode-rate measurement, as JSON.

The executor benchmark runs this in a new process per quantization so that each resident-memory
number starts from an empty interpreter.
"""

import json
import sys

from agentroute.bench.executor_speed import memory_probe

if len(sys.argv) == 5 and sys.argv[1] == "llama-cpp":
    from agentroute.bench.llama_cpp_speed import measure

    print(json.dumps(measure(sys.argv[2], json.load(sys.stdin), int(sys.argv[3]), int(sys.argv[4]))))
elif len(sys.argv) == 3 and sys.argv[1] == "memory-probe":
    print(json.dumps(memory_probe(sys.argv[2])))
else:
    sys.exit(
        "usage: python -m agentroute.bench memory-probe {default,bf16,fp32,nf4,int8} | "
        "llama-cpp GGUF REPEATS NEW_TOKENS < prompt_ids.json"
    )
