"""The serving tests' tiny models and live server, for the load benchmark's own tests."""
from tests.serving.conftest import server, specs, tiny_artifacts  # noqa: F401 - fixtures, shared
