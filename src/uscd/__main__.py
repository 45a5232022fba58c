import sys

from uscd.cli import main

sys.exit(main())
