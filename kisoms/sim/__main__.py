import sys

from kisoms.sim.cli_entry import main

sys.exit(main())
