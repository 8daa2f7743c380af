"""Teacher-forced fidelity of layer programs to full depth, on a fixed set of agent steps.

Program search scores thousands of candidates, so scoring must cost a fraction of a generation.
For each step the full-depth greedy reply is generated once and the prompt's full-depth keys and
values are kept. A skip program (each layer at most once, in order) decodes after a full-depth
prompt at inference (``prefill="full"``), so scoring it is one parallel pass over the reply only:
position i predicts reply token i given full depth's earlier tokens. Two numbers per step:

* ``agreement``: the fraction of reply positions where the program's argmax is full depth's token
  (the ``forced_agreement`` of ``agentroute eval``);
* ``nll``: the mean negative log-likelihood of full depth's tokens under the program (smoother; it
  breaks ties between programs of equal agreement).

Candidates in a search differ from a parent program by one layer, so the scorer keeps a *trail*:
the parent's hidden states after each of its layers. A child resumes from the longest prefix it
shares with the trail instead of rerunning it; each layer writes its own KV slot at the reply's
positions before reading it, so stale entries left by other candidates are never read. A looping
program prefills the prompt with itself at inference, so it is scored with its own prefill.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from agentroute import executor
from agentroute.evaluation.steps import EvalStep
from agentroute.kv_cache import ProgramKVCache
from agentroute.prefix_cache import common_prefix
from agentroute.program import LayerProgram


@dataclass(frozen=True)
class Fidelity:
    """Mean over steps (each step weighs the same) of teacher-forced agreement and NLL."""

    agreement: float
    nll: float
    per_step: tuple[float, ...] = ()

    def key(self) -> tuple[float, float]:
        """Sort key, higher is better: agreement first, then lower NLL."""
        return (round(self.agreement, 9), -self.nll)

    def to_dict(self) -> dict[str, float]:
        return {"agreement": self.agreement, "nll": self.nll}


@dataclass
class _Reference:
    """One step's prompt, full-depth reply, and full-depth prompt cache."""

    id: str
    prompt_ids: list[int]
    reply_ids: list[int]
    kv: ProgramKVCache
    first_nll: float  # -log p(reply[0]) from the full-depth prefill: the same for every skip program
    trail: tuple[tuple[int, ...], list[torch.Tensor]] | None = field(default=None, repr=False)


@dataclass
class LayerStats:
    """Per-layer statistics of the full-depth prompt pass, for the training-free baselines.

    ``influence[l]``: mean over prompt tokens of ``1 - cos(input, output)`` of layer l (ShortGPT's
    Block Influence). ``last_inputs[s][l]``: the hidden state entering layer l at the last prompt
    token of step s (``l == n_layers``: after the last layer), for angular distance (Gromov et al.).
    """

    influence: list[float]
    last_inputs: list[list[torch.Tensor]]


class FidelityScorer:
    """Scores layer programs against full depth on ``steps`` (EvalSteps) for one RoutedModel."""

    def __init__(
        self,
        model,
        steps: Sequence[EvalStep],
        max_new_tokens: int = 32,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        if not steps:
            raise ValueError("program search needs at least one step to score programs on")
        self.model = model
        self.parts = model.parts
        self.n_layers = model.n_layers
        self.full = LayerProgram.full(self.n_layers)
        self.references: list[_Reference] = []
        influence = torch.zeros(self.n_layers, dtype=torch.float64)
        tokens = 0
        last_inputs: list[list[torch.Tensor]] = []
        for index, step in enumerate(steps):
            prompt_ids = model.encode(step.messages, tools=step.tools or None)
            budget = min(step.max_new_tokens, max_new_tokens)
            reply = model.generate_ids(prompt_ids, program=self.full, max_new_tokens=budget, temperature=0.0).token_ids
            kv, logits, step_influence, last = self._full_prefill(prompt_ids, len(reply))
            influence += step_influence
            tokens += len(prompt_ids)
            last_inputs.append(last)
            first_nll = float(-torch.log_softmax(logits, -1)[0, reply[0]])
            self.references.append(_Reference(step.id, prompt_ids, list(reply), kv, first_nll))
            if progress is not None:
                progress(index + 1, len(steps))
        self.stats = LayerStats((influence / max(tokens, 1)).tolist(), last_inputs)
        self.evaluations = 0

    def _full_prefill(self, prompt_ids: list[int], reply_len: int):
        influence = torch.zeros(self.n_layers, dtype=torch.float64)
        last: list[torch.Tensor] = []

        def observe(layer: int, hidden_in: torch.Tensor, hidden_out: torch.Tensor) -> None:
            cos = torch.nn.functional.cosine_similarity(hidden_in.float(), hidden_out.float(), dim=-1)
            influence[layer] += (1 - cos).sum().double()
            last.append(hidden_in[0, -1].float().clone())
            if layer == self.n_layers - 1:
                last.append(hidden_out[0, -1].float().clone())

        kv = ProgramKVCache()
        ids = torch.tensor([prompt_ids], dtype=torch.long, device=self.parts.device)
        with torch.inference_mode():
            logits = executor.forward(
                self.parts, kv, self.full, ids, 0, capacity=len(prompt_ids) + reply_len, on_layer=observe
            )
        return kv, logits, influence, last

    # -- scoring ----------------------------------------------------------------------------------

    def score(self, program: LayerProgram, subset: Sequence[int] | None = None, own_prefill: bool = False) -> Fidelity:
        """Fidelity of ``program`` on every step (or the steps at indices ``subset``).

        ``own_prefill``: a skip program also encodes the prompt (``prefill="program"``), as a
        looping program always does; used to tell a loop's effect from its prefill's.
        """
        indices = range(len(self.references)) if subset is None else subset
        agreements, nlls = [], []
        with torch.inference_mode():
            for i in indices:
                agreement, nll = self._score_step(self.references[i], program, own_prefill)
                agreements.append(agreement)
                nlls.append(nll)
        self.evaluations += 1
        return Fidelity(sum(agreements) / len(agreements), sum(nlls) / len(nlls), tuple(agreements))

    def set_trail(self, program: LayerProgram) -> None:
        """Remember ``program``'s hidden states so programs sharing a prefix with it resume from there."""
        if program.loops:
            raise ValueError("a trail must be a skip program (looping programs prefill with themselves)")
        with torch.inference_mode():
            for ref in self.references:
                ref.trail = (program.layers, self._run_reply(ref, program, keep=True)[1])

    def _score_step(self, ref: _Reference, program: LayerProgram, own_prefill: bool) -> tuple[float, float]:
        reply = ref.reply_ids
        if program.loops or own_prefill:
            first_logits, logits = self._own_prefill_pass(ref, program)
            first_nll = float(-torch.log_softmax(first_logits, -1)[0, reply[0]])
            first_ok = int(first_logits.argmax(-1)) == reply[0]
        else:
            logits = self._run_reply(ref, program)[0]
            first_nll, first_ok = ref.first_nll, True
        if logits is None:
            return float(first_ok), first_nll
        log_probs = torch.log_softmax(logits, -1)
        targets = torch.tensor(reply[1:], device=log_probs.device)
        hits = int((log_probs.argmax(-1) == targets).sum()) + int(first_ok)
        nll = float(-log_probs.gather(-1, targets[:, None]).sum()) + first_nll
        return hits / len(reply), nll / len(reply)

    def _run_reply(self, ref: _Reference, program: LayerProgram, keep: bool = False):
        """Teacher-forced logits [r-1, vocab] of a skip program over the reply after the cached prompt."""
        if len(ref.reply_ids) < 2:
            return None, []
        start = len(ref.prompt_ids)
        chunk = torch.tensor([ref.reply_ids[:-1]], dtype=torch.long, device=self.parts.device)
        hidden, rotary, positions, mask = executor.chunk_inputs(self.parts, chunk, start)
        resume, states = 0, [hidden]
        if ref.trail is not None:
            shared = common_prefix(ref.trail[0], program.layers)
            resume, states = shared, ref.trail[1][: shared + 1]
            hidden = states[-1]
        ref.kv.begin(start)
        layers, slots = program.layers, program.slots
        for position in range(resume, len(layers)):
            hidden = executor.run_layers(
                self.parts, ref.kv, layers[position : position + 1], slots[position : position + 1],
                hidden, rotary, positions, mask,
            )  # fmt: skip
            if keep:
                states.append(hidden)
        return self.parts.logits(hidden).float()[0], states

    def _own_prefill_pass(self, ref: _Reference, program: LayerProgram):
        """(first-token logits, teacher-forced reply logits) of a program that also encodes the prompt."""
        kv = ProgramKVCache()
        prompt = torch.tensor([ref.prompt_ids], dtype=torch.long, device=self.parts.device)
        capacity = len(ref.prompt_ids) + len(ref.reply_ids)
        first = executor.forward(self.parts, kv, program, prompt, 0, capacity=capacity)
        if len(ref.reply_ids) < 2:
            return first, None
        chunk = torch.tensor([ref.reply_ids[:-1]], dtype=torch.long, device=self.parts.device)
        return first, executor.forward(self.parts, kv, program, chunk, len(ref.prompt_ids), all_logits=True)[0]
