import sys

from agentroute.cli.main import main

sys.exit(main())
