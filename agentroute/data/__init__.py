"""Generated agent-step data: ``agentroute data build --seed S --out DIR``.

Every step comes from the project's own templates (no downloads, no model): tool schemas composed
from domains × actions × parameter templates, requests that say values naturally ("a table for
four at 7pm" -> ``party_size=4``, ``time="19:00"``), planning goals, reasoning questions and final
answers over tool results. Output: ``train.jsonl``, ``dev.jsonl``, ``test.jsonl``,
``test_length_matched.jsonl`` (tool-call/planning pairs of equal prompt length and the same tools,
from the test domains), ``train_length_matched.jsonl`` (the same from the train domains, for the
router's step-type head) and ``manifest.json``, byte-identical for the same seed and sizes.

One step per line, the format ``agentroute eval`` reads::

    {"id": "train-00042", "step_type": "tool_call", "domain": "restaurants",
     "messages": [{"role": "system", ...}, {"role": "user", "content": "Book a table at Nopa for four at 7pm ..."}],
     "tools": [{"name": "book_table", "description": "...", "parameters": {...}}, ...],
     "max_new_tokens": 64,
     "expected": {"tool_calls": [{"name": "book_table", "arguments": {"party_size": 4, "time": "19:00", ...}}]}}

``step_type`` is tool_call, planning, reasoning or final_answer; ``expected`` is present only on
tool-call steps; planning, reasoning and final-answer steps may carry ``reference`` (the plan's tool
order, the answer, the key fact of the tool result); final-answer steps also carry ``answer``, a gold
reply that states the results (route packs train on it). See ``splits`` for what each split holds out.

```python
from agentroute.data import BuildConfig, build_dataset

manifest = build_dataset("data/agentsteps", BuildConfig(seed=1, train=2000, dev=200, test=300))
```
"""

from agentroute.data.build import DATA_VERSION, BuildConfig, DataBuildError, build_dataset, generate_split

__all__ = ["DATA_VERSION", "BuildConfig", "DataBuildError", "build_dataset", "generate_split"]
