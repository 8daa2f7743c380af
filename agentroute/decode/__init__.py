"""The decode stage: the routed decode loop, lossless drafts and verification, sampling, the tool-call
grammar, prefix reuse and streaming. Runs a step's tokens on ``agentroute.model``."""
