import sys

from assistant_builder.cli.main import main

sys.exit(main())
