"""A zoo of public architectures with seeded random weights: proof that Rosetta exports models nobody here wrote.

Each entry (zoo.catalog.ZOO) names a factory in the `rosetta export --model package.module:factory` form and a
deterministic example-inputs generator; `python -m rosetta.zoo.run` pushes every entry through the exporter and writes
the model x format coverage grid.
"""
