"""What lossless mode builds once per set of weights and reuses for every reply.

Int8 draft copies (``draft_weights``) per ``draft_weights`` choice, made on first use (about a
second for the default model), and the timed draft and verify passes (``draft_length``): verify
passes once per verifier program (about 0.6 s for the default model on a 2-core CPU), draft passes
per draft program and choice, measured before a call's clock starts, like a warm-up. A model
drops its cache when its weights change (``RoutedModel.attach_weights``).
"""

from __future__ import annotations

from agentroute.decode import speculative
from agentroute.decode.draft_length import PassCosts, SpeculativeSettings
from agentroute.decode.draft_weights import draft_parts
from agentroute.model.hf_parts import ModelParts
from agentroute.model.program import LayerProgram


class DraftCache:
    def __init__(self) -> None:
        self.parts: dict[str, ModelParts] = {}  # draft_weights -> the parts drafts run on
        self.costs: dict[tuple[str, str], PassCosts] = {}  # (draft_weights, draft program) -> timed passes
        self.verify_rows: dict[str, tuple[float, ...]] = {}  # verifier program -> its timed chunks, shared

    def draft_parts(self, parts: ModelParts, settings: SpeculativeSettings) -> ModelParts:
        """The parts lossless drafts run on under ``settings.draft_weights``."""
        choice = settings.draft_weights
        if choice not in self.parts:
            self.parts[choice] = draft_parts(parts, choice)
        return self.parts[choice]

    def prepare(self, parts: ModelParts, settings: SpeculativeSettings, drafts, context_ids) -> None:
        """Make the draft copies and time the passes of each program in ``drafts`` now (a warm-up),
        skipping a full-depth draft on the verifier's own weights, which lossless mode never runs,
        unless prompt lookup drafts instead (its rounds copy as many tokens as the timed verify
        passes say pay)."""
        drafting = self.draft_parts(parts, settings)
        full = LayerProgram.full(parts.n_layers)
        for draft in drafts:
            if not draft.is_full or drafting is not parts or settings.lookup:
                programs = speculative.Programs(draft=draft, verifier=full)
                self.pass_costs(parts, drafting, programs, context_ids, settings)

    def pass_costs(
        self, parts: ModelParts, drafting: ModelParts, programs, prompt_ids, settings: SpeculativeSettings
    ) -> PassCosts | None:
        """Timed passes for the draft length (``draft_length.measure_costs``); None when ``fixed_k`` pins k."""
        if settings.fixed_k is not None:
            return None
        key = (settings.draft_weights, str(programs.draft))
        if key not in self.costs:
            verifier = str(programs.verifier)
            costs = speculative.measure_costs(
                parts, drafting, programs, prompt_ids, settings.k_max, verify_rows=self.verify_rows.get(verifier, ())
            )
            self.costs[key], self.verify_rows[verifier] = costs, costs.verify_rows
        return self.costs[key]
