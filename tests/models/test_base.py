"""Every lane module implements rosetta.models.base.Lane: the same names, the same parameters in the same order."""
import inspect

import pytest

from rosetta.models import lane
from rosetta.models.base import Lane

MEMBERS = {name: value for name, value in vars(Lane).items() if not name.startswith("_")}
CONSTANTS = set(Lane.__annotations__)


@pytest.mark.parametrize("name", ["keras", "torch", "jax"])
def test_lane_module_implements_the_protocol(name):
    module = lane(name)
    assert CONSTANTS == {"CHECKPOINT", "DISTRIBUTIONS"}
    assert isinstance(module.CHECKPOINT, str) and all(isinstance(d, str) for d in module.DISTRIBUTIONS)
    assert MEMBERS, "the protocol declares its functions"
    for member, declared in MEMBERS.items():
        implemented = getattr(module, member, None)
        assert callable(implemented), f"{module.__name__} lacks {member}"
        wanted = list(inspect.signature(declared).parameters)[1:]  # without self
        have = list(inspect.signature(implemented).parameters)
        assert have[:len(wanted)] == wanted, (module.__name__, member, have, wanted)
        extra = [p for p in inspect.signature(implemented).parameters.values()][len(wanted):]
        assert all(p.default is not inspect.Parameter.empty for p in extra), (module.__name__, member, extra)
