"""``python -m agentroute.bench memory-probe QUANT``: one fresh-process memory measurement, as JSON.

The executor benchmark runs this in a new process per quantization so that each resident-memory
number starts from an empty interpreter.
"""

import json
import sys

from agentroute.bench.executor_speed import memory_probe

if len(sys.argv) != 3 or sys.argv[1] != "memory-probe":
    sys.exit("usage: python -m agentroute.bench memory-probe {default,fp32,nf4,int8}")
print(json.dumps(memory_probe(sys.argv[2])))
