import sys

from servicekit.devstack.launcher import main

sys.exit(main())
