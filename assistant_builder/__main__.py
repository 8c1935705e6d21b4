import sys

from assistant_builder.cli import main

sys.exit(main())
