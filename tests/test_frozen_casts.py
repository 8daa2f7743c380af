"""Frozen weights cast once per run (``training.frozen_casts``): under bf16 autocast the loss and
the LoRA gradients are those of the per-call casts, and the float32 parameters stay untouched."""

import torch
from peft import get_peft_model
from tiny_models import tiny_model
from torch import nn

from agentroute import LayerProgram, RoutedModel, StepType
from agentroute.training.adapter import AdapterConfig, lora_config
from agentroute.training.examples import TrainExample
from agentroute.training.frozen_casts import frozen_linears_in
from agentroute.training.objective import example_loss


def loss_and_grads(peft_model, parts, example, programs, cast: bool):
    peft_model.zero_grad()
    with frozen_linears_in(peft_model, torch.bfloat16 if cast else None):
        patched = [m for m in peft_model.modules() if "forward" in vars(m) and isinstance(m, nn.Linear)]
        # Every frozen linear (q, k, v, o, gate, up, down per layer, and the head) or none.
        assert len(patched) == (7 * 4 + 1 if cast else 0)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, _ = example_loss(parts, example, programs)
        loss.backward()
    grads = {n: p.grad.clone() for n, p in peft_model.named_parameters() if p.requires_grad}
    return loss.detach(), grads


def test_casting_frozen_weights_once_changes_no_product():
    model, tok = tiny_model("llama", n_layers=4)
    routed = RoutedModel(model, tok, name="tiny-llama")
    peft_model = get_peft_model(routed.hf_model, lora_config(AdapterConfig(rank=4, alpha=8), routed.n_layers))
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:  # non-zero, so every LoRA weight gets a gradient
            torch.nn.init.normal_(param, std=0.02)
    frozen = {n: p.detach().clone() for n, p in peft_model.named_parameters() if not p.requires_grad}
    prompt = routed.encode("Weather in Oslo?")
    example = TrainExample("x", StepType.TOOL_CALL, prompt, tok("Oslo", add_special_tokens=False)["input_ids"], True)
    programs = [LayerProgram.full(4), LayerProgram.skip(4, [1])]
    peft_model.train()
    per_call, per_call_grads = loss_and_grads(peft_model, routed.parts, example, programs, cast=False)
    once, once_grads = loss_and_grads(peft_model, routed.parts, example, programs, cast=True)
    torch.testing.assert_close(once, per_call, atol=0, rtol=0)
    assert once_grads.keys() == per_call_grads.keys() and once_grads
    for name, grad in once_grads.items():
        assert grad.abs().sum() > 0, name
        torch.testing.assert_close(grad, per_call_grads[name], atol=0, rtol=0, msg=name)
    # The float32 parameters are unchanged, and every linear reads them again after the block.
    for name, param in peft_model.named_parameters():
        if name in frozen:
            assert param.dtype == torch.float32 and torch.equal(param, frozen[name]), name
    assert not any("forward" in vars(m) for m in peft_model.modules() if isinstance(m, nn.Linear))


def test_the_copy_multiplies_under_autocast_and_the_parameter_outside_it():
    torch.manual_seed(0)
    linear = nn.Linear(8, 4).requires_grad_(False)
    x = torch.randn(3, 8)
    with frozen_linears_in(linear, torch.bfloat16):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            before = linear(x)
            linear.weight.mul_(2)  # the copy was made on entry: autocast products do not see this
            assert torch.equal(linear(x), before)
        torch.testing.assert_close(linear(x), x @ linear.weight.T + linear.bias)  # float32, the parameter
    assert "forward" not in vars(linear)


def test_a_forward_already_set_on_a_linear_is_left_alone():
    linear = nn.Linear(8, 4).requires_grad_(False)
    own = lambda x: x[:, :4]  # noqa: E731
    linear.forward = own
    with frozen_linears_in(linear, torch.bfloat16):
        assert linear.forward is own
    assert linear.forward is own
