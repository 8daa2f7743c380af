"""AgentRoute: layer-routed local LLM steps for agent frameworks."""

from agentroute.errors import (
    AgentRouteError,
    GenerationCancelled,
    GenerationError,
    MessageError,
    ModelLoadError,
    ProgramError,
    QuantizationError,
    UnsupportedModelError,
)
from agentroute.loading import load
from agentroute.model.program import LayerProgram
from agentroute.routed_model import RoutedModel
from agentroute.steps.policy import DepthPolicy, PolicyError
from agentroute.steps.records import GenerationRecord, GenerationResult, StepRecord, StepType, ToolCall
from agentroute.steps.reply_parsing import parse_tool_calls
from agentroute.steps.step_types import StepContext
from agentroute.steps.tools import ToolSpec
from agentroute.trace.trace_file import Trace, read_trace

__all__ = [
    "AgentRouteError",
    "DepthPolicy",
    "GenerationCancelled",
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
