"""The data files shipped with the package (installed as rosetta.datasets): the MNIST IDX files."""
