import pytest
import torch
from tiny_models import FAMILIES, tiny_model

from agentroute import RoutedModel

torch.set_num_threads(2)


@pytest.fixture(scope="session", params=sorted(FAMILIES))
def family_model(request) -> RoutedModel:
    model, tok = tiny_model(request.param, n_layers=4)
    return RoutedModel(model, tok, name=f"tiny-{request.param}")


@pytest.fixture(scope="session")
def llama_model() -> RoutedModel:
    model, tok = tiny_model("llama", n_layers=6)
    return RoutedModel(model, tok, name="tiny-llama")
