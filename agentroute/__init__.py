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
from agentroute.program import LayerProgram
from agentroute.records import GenerationRecord, GenerationResult, StepRecord, StepType, ToolCall
from agentroute.routed_model import RoutedModel

__all__ = [
    "AgentRouteError",
    "GenerationError",
    "GenerationRecord",
    "GenerationResult",
    "LayerProgram",
    "MessageError",
    "ModelLoadError",
    "ProgramError",
    "QuantizationError",
    "RoutedModel",
    "StepRecord",
    "StepType",
    "ToolCall",
    "UnsupportedModelError",
    "load",
]
__version__ = "0.1.0"
