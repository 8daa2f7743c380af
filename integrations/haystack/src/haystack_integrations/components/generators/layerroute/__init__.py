"""Haystack chat generator for AgentRoute: layer-routed local LLM steps with per-step records."""

from .generator import LayerRouteGenerator

__all__ = ["LayerRouteGenerator"]
