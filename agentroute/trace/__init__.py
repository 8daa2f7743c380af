"""The record stage: JSONL traces of step records, their plot, and OpenTelemetry spans."""
