import sys

from agentroute.serve.command import main

sys.exit(main())
