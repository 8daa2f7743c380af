"""The step stage: what a step is (records, step types, tools, messages) and how it is routed (the
depth policy, the router network, routing a step to a layer program)."""
