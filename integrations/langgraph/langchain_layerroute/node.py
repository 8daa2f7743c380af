"""``layerroute_node``: a LangGraph node function that runs one AgentRoute step on the state's messages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig

from agentroute import RoutedModel, StepType
from agentroute.steps.step_types import parse_step_type

from .chat_model import ChatLayerRoute


def layerroute_node(
    model: ChatLayerRoute | RoutedModel | None = None,
    *,
    step_type: StepType | str | None = None,
    tools: Sequence[Any] | None = None,
    messages_key: str = "messages",
    name: str | None = None,
    **model_kwargs: Any,
) -> Callable[..., dict[str, list[AIMessage]]]:
    """Build a node for a custom ``StateGraph`` whose state keeps messages (``add_messages``).

    The node reads ``state[messages_key]``, runs one step with ``step_type`` (None: the model's
    ``node_step_types``, the policy's hint_map for the node name, else the conversation's
    structure) and ``tools``, and returns ``{messages_key: [AIMessage]}``.

    ``model`` is a ChatLayerRoute, a loaded RoutedModel (wrapped with ``model_kwargs``) or None
    (a ChatLayerRoute built from ``model_kwargs``). ``name`` names the node function, so
    ``builder.add_node(layerroute_node(..., name="planner"))`` adds a node called "planner",
    and is set on the replies.
    """
    if isinstance(model, ChatLayerRoute):
        if model_kwargs:
            raise ValueError(f"model_kwargs {sorted(model_kwargs)} only apply when model is a RoutedModel or None")
        chat = model
    elif isinstance(model, RoutedModel):
        chat = ChatLayerRoute(routed_model=model, **model_kwargs)
    elif model is None:
        chat = ChatLayerRoute(**model_kwargs)
    else:
        raise TypeError(f"model must be a ChatLayerRoute, a RoutedModel or None, got {type(model).__name__}")
    runnable = chat.bind_tools(tools) if tools else chat
    if step_type is not None:
        runnable = runnable.bind(step_type=parse_step_type(step_type).value)  # a bad name fails now, not mid-graph

    def node(state: Any, config: RunnableConfig) -> dict[str, list[AIMessage]]:
        messages = state[messages_key] if isinstance(state, dict) else getattr(state, messages_key)
        # Passing config keeps the graph's callbacks and metadata (langgraph_node, ...) on the call.
        reply = runnable.invoke(messages, config)
        if name:
            reply.name = name
        return {messages_key: [reply]}

    node.__name__ = node.__qualname__ = name or "layerroute"
    return node
