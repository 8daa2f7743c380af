"""LangChain chat model and LangGraph node for AgentRoute: layer-routed local LLM steps.

``ChatLayerRoute`` is a ``BaseChatModel`` (invoke, stream, async, ``bind_tools``) that runs each
agent step through a layer program picked from the step type; ``layerroute_node`` builds a node
function for a custom ``StateGraph``.
"""

from .chat_model import ChatLayerRoute
from .messages import to_agentroute_messages, to_ai_message
from .node import layerroute_node

__all__ = ["ChatLayerRoute", "layerroute_node", "to_agentroute_messages", "to_ai_message"]
