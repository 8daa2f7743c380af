"""The ``agentroute`` command: ``main`` dispatches to one module per subcommand."""
