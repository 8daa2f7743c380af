import sys

from agentroute.cli import main

sys.exit(main())
