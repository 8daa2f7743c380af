"""Errors raised for bad input. Each names what is wrong and how to fix it."""


class AgentRouteError(Exception):
    """Base class of every error AgentRoute raises on purpose."""


class ProgramError(AgentRouteError, ValueError):
    """A layer program that does not fit the model (empty, out of range, unparsable)."""


class ModelLoadError(AgentRouteError):
    """A model that cannot be found, converted or loaded."""


class UnsupportedModelError(ModelLoadError):
    """A model whose architecture the layer resolver does not know."""


class QuantizationError(AgentRouteError, ValueError):
    """An unknown quantization name, or one the installed libraries cannot run."""


class MessageError(AgentRouteError, ValueError):
    """Malformed chat messages (empty list, unknown role, missing content)."""


class GenerationError(AgentRouteError, ValueError):
    """Generation settings that cannot work (negative token budget, bad top_p, ...)."""


class GenerationCancelled(AgentRouteError):
    """A generation stopped because its ``cancelled`` check said so; nothing of the reply is kept."""

    def __init__(self, message: str = "the generation was cancelled by its caller (its cancelled check returned true)"):
        super().__init__(message)


class ToolSchemaError(AgentRouteError, ValueError):
    """A tool definition the model cannot be offered (bad or duplicate name, invalid JSON Schema)."""
