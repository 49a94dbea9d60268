"""The floor everything stands on: the model spec, the manifest, version directories, example sets, atomic
writes, the file lock, tool versions and where the package's data lives. Standard library and numpy only: the
ORT server image ships this package whole and no framework."""
