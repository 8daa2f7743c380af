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

Where a step carries its answer (``expected`` tool calls) and the scorer is given a
``correctness`` weight, the program is also scored against that answer, written as the model
writes calls: ``gold_agreement`` and ``gold_nll`` by the same teacher-forced pass. The search then
ranks by ``(1 - w) * agreement + w * gold_agreement``: full depth of a small base model is often
wrong, and fidelity alone would keep a program faithful to the wrong call.

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

from agentroute.decode.prefix_cache import common_prefix
from agentroute.evaluation.steps import EvalStep
from agentroute.model import executor
from agentroute.model.kv_cache import ProgramKVCache
from agentroute.model.program import LayerProgram
from agentroute.training.examples import gold_reply


@dataclass(frozen=True)
class Fidelity:
    """Mean over steps (each step weighs the same) of teacher-forced agreement and NLL; with a
    correctness weight, also the means over the steps that carry an answer."""

    agreement: float
    nll: float
    per_step: tuple[float, ...] = ()
    gold_agreement: float | None = None
    gold_nll: float | None = None
    weight: float = 0.0  # of correctness in the ranking

    def key(self) -> tuple[float, float]:
        """Sort key, higher is better: (weighted) agreement first, then lower (weighted) NLL."""
        if self.gold_agreement is None or not self.weight:
            return (round(self.agreement, 9), -self.nll)
        w = self.weight
        agreement = (1 - w) * self.agreement + w * self.gold_agreement
        return (round(agreement, 9), -((1 - w) * self.nll + w * self.gold_nll))

    def to_dict(self) -> dict[str, float]:
        out = {"agreement": self.agreement, "nll": self.nll}
        if self.gold_agreement is not None:
            out.update(gold_agreement=self.gold_agreement, gold_nll=self.gold_nll)
        return out


@dataclass
class _Reference:
    """One step's prompt, full-depth reply, and full-depth prompt cache."""

    id: str
    prompt_ids: list[int]
    reply_ids: list[int]
    kv: ProgramKVCache
    first_log_probs: torch.Tensor  # [vocab] after the full-depth prefill: the same for every skip program
    gold_ids: list[int] | None = None  # the step's answer as the model writes it, when scored
    trail: tuple[tuple[int, ...], list[torch.Tensor]] | None = field(default=None, repr=False)
    gold_trail: tuple[tuple[int, ...], list[torch.Tensor]] | None = field(default=None, repr=False)


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
        correctness: float = 0.0,
    ) -> None:
        if not steps:
            raise ValueError("program search needs at least one step to score programs on")
        if not 0.0 <= correctness <= 1.0:
            raise ValueError(f"correctness weight must be in [0, 1], got {correctness}")
        self.correctness = correctness
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
            gold = gold_reply(model, step) if correctness and step.expected else None
            kv, logits, step_influence, last = self._full_prefill(prompt_ids, max(len(reply), len(gold or ())))
            influence += step_influence
            tokens += len(prompt_ids)
            last_inputs.append(last)
            first = torch.log_softmax(logits.float(), -1)[0]
            self.references.append(_Reference(step.id, prompt_ids, list(reply), kv, first, gold))
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
        agreements, nlls, gold = [], [], []
        # After a full-depth prompt the first reply token is full depth's own greedy choice.
        first_ok = None if program.loops or own_prefill else True
        with torch.inference_mode():
            for i in indices:
                ref = self.references[i]
                first, logits = self._logits(ref, program, own_prefill, ref.reply_ids)
                agreement, nll = _agreement(first, logits, ref.reply_ids, first_ok)
                agreements.append(agreement)
                nlls.append(nll)
                if ref.gold_ids is not None:
                    gold.append(_agreement(*self._logits(ref, program, own_prefill, ref.gold_ids), ref.gold_ids))
        self.evaluations += 1
        answers = {}
        if gold:
            answers = {"gold_agreement": sum(a for a, _ in gold) / len(gold),
                       "gold_nll": sum(n for _, n in gold) / len(gold), "weight": self.correctness}  # fmt: skip
        return Fidelity(sum(agreements) / len(agreements), sum(nlls) / len(nlls), tuple(agreements), **answers)

    def set_trail(self, program: LayerProgram) -> None:
        """Remember ``program``'s hidden states so programs sharing a prefix with it resume from there."""
        if program.loops:
            raise ValueError("a trail must be a skip program (looping programs prefill with themselves)")
        with torch.inference_mode():
            for ref in self.references:
                ref.trail = (program.layers, self._run_reply(ref, program, keep=True)[1])
                if ref.gold_ids is not None:
                    ref.gold_trail = (program.layers, self._run_reply(ref, program, keep=True, target=ref.gold_ids)[1])

    def _logits(self, ref: _Reference, program: LayerProgram, own_prefill: bool, target: list[int]):
        """(log-probs [vocab] of target[0], teacher-forced logits [t-1, vocab] or None) under ``program``."""
        if program.loops or own_prefill:
            first_logits, logits = self._own_prefill_pass(ref, program, target)
            return torch.log_softmax(first_logits.float(), -1)[0], logits
        return ref.first_log_probs, self._run_reply(ref, program, target=target)[0]

    def _run_reply(self, ref: _Reference, program: LayerProgram, keep: bool = False, target: list[int] | None = None):
        """Teacher-forced logits [t-1, vocab] of a skip program over ``target`` (default: the
        full-depth reply; or the step's answer, with its own trail) after the cached prompt."""
        target = ref.reply_ids if target is None else target
        trail = ref.trail if target is ref.reply_ids else ref.gold_trail if target is ref.gold_ids else None
        if len(target) < 2:
            return None, []
        start = len(ref.prompt_ids)
        chunk = torch.tensor([target[:-1]], dtype=torch.long, device=self.parts.device)
        hidden, rotary, positions, mask = executor.chunk_inputs(self.parts, chunk, start)
        resume, states = 0, [hidden]
        if trail is not None:
            shared = common_prefix(trail[0], program.layers)
            resume, states = shared, trail[1][: shared + 1]
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

    def _own_prefill_pass(self, ref: _Reference, program: LayerProgram, target: list[int]):
        """(first-token logits, teacher-forced logits over ``target``) of a program that also encodes the prompt."""
        kv = ProgramKVCache()
        prompt = torch.tensor([ref.prompt_ids], dtype=torch.long, device=self.parts.device)
        capacity = len(ref.prompt_ids) + len(target)
        first = executor.forward(self.parts, kv, program, prompt, 0, capacity=capacity)
        if len(target) < 2:
            return first, None
        chunk = torch.tensor([target[:-1]], dtype=torch.long, device=self.parts.device)
        return first, executor.forward(self.parts, kv, program, chunk, len(ref.prompt_ids), all_logits=True)[0]


def _agreement(
    first: torch.Tensor, logits: torch.Tensor | None, target: list[int], first_ok: bool | None = None
) -> tuple[float, float]:
    """(top-1 agreement, mean NLL) of ``target`` given log-probs of its first token and the
    teacher-forced logits of the rest; ``first_ok`` when the first token's hit is known."""
    if first_ok is None:
        first_ok = int(first.argmax(-1)) == target[0]
    first_nll = float(-first[target[0]])
    if logits is None:
        return float(first_ok), first_nll
    log_probs = torch.log_softmax(logits.float(), -1)
    targets = torch.tensor(target[1:], device=log_probs.device)
    hits = int((log_probs.argmax(-1) == targets).sum()) + int(first_ok)
    nll = float(-log_probs.gather(-1, targets[:, None]).sum()) + first_nll
    return hits / len(target), nll / len(target)
