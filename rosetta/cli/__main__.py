"""`python -m rosetta.cli`: the `rosetta` command (child processes of other Keras backends start it this way)."""
import sys

from rosetta.cli import main

sys.exit(main())
