"""AgentRoute: layer-routed local LLM steps for agent frameworks."""

from agentroute.errors import (
    AgentRouteError,
    GenerationError,
    MessageError,
    ModelLoadError,
    ProgramError,
    QuantizationError,
    UnsupportedModelError,
)
from agentroute.loading import load
from agentroute.policy import DepthPolicy, PolicyError
from agentroute.program import LayerProgram
from agentroute.records import GenerationRecord, GenerationResult, StepRecord, StepType, ToolCall
from agentroute.routed_model import RoutedModel
from agentroute.step_types import StepContext
from agentroute.tools import ToolSpec, parse_tool_calls
from agentroute.trace import Trace, read_trace

__all__ = [
    "AgentRouteError",
    "DepthPolicy",
    "GenerationError",
    "GenerationRecord",
    "GenerationResult",
    "LayerProgram",
    "MessageError",
    "ModelLoadError",
    "PolicyError",
    "ProgramError",
    "QuantizationError",
    "RoutedModel",
    "StepContext",
    "StepRecord",
    "StepType",
    "ToolCall",
    "ToolSpec",
    "Trace",
    "UnsupportedModelError",
    "load",
    "parse_tool_calls",
    "read_trace",
]
__version__ = "0.1.0"
