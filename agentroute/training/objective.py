"""The per-example loss: agent skills at full depth plus faithfulness of cheaper programs.

For a gold example (a tool call): cross-entropy of the full-depth stream, and for each sampled
program stream its own cross-entropy plus KL(full || program) to the (detached) full-depth
stream - LayerSkip-style robustness, restricted to the programs the router can choose. For a
teacher example only the distillation terms and a full-depth cross-entropy to the base model's
own reply (which keeps free-text behaviour where it was).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from agentroute.model.program import LayerProgram
from agentroute.training.examples import TrainExample
from agentroute.training.streams import stream_logits


def example_loss(
    parts, example: TrainExample, programs: Sequence[LayerProgram], prompt_grad: bool = True
) -> tuple[torch.Tensor, dict]:
    """Loss and its parts for one example; ``programs[0]`` must be the full program.
    ``prompt_grad=False``: the prompt is encoded without gradients (``streams._detached_stream_logits``)."""
    logits = stream_logits(parts, example.prompt_ids, example.reply_ids, programs, prompt_grad)
    target = torch.tensor(example.reply_ids, device=logits.device)
    full = logits[0]
    ce_full = F.cross_entropy(full, target)
    teacher = F.log_softmax(full.detach(), dim=-1)
    kls, ces = [], []
    for stream in logits[1:]:
        student = F.log_softmax(stream, dim=-1)  # over the whole vocabulary: computed once, for both terms
        kls.append(F.kl_div(student, teacher, log_target=True, reduction="batchmean"))
        ces.append(F.nll_loss(student, target))  # = cross_entropy(stream, target)
    kl = torch.stack(kls).mean() if kls else full.new_zeros(())
    ce_prog = torch.stack(ces).mean() if ces else full.new_zeros(())
    loss = ce_full + kl + (ce_prog if example.gold else 0.0)
    return loss, {"ce_full": float(ce_full.detach()), "ce_program": float(ce_prog.detach()), "kl": float(kl.detach())}
