import sys

from minilm_repro.cli import main

sys.exit(main())
