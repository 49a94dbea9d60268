"""How a JAX model travels through Rosetta: a pure function and the variables it closes over."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JaxFunction:
    """`apply(variables, *inputs)` -> one output array, or a tuple of them in the spec's output order.

    For a Flax module this is `(module.apply, variables)` (variables = {"params": ..., "batch_stats": ...}),
    plus whatever post-processing (softmax, ...) the served model applies. Inputs come in spec input order.
    """
    apply: Callable[..., Any]
    variables: Any

    def __call__(self, *inputs: Any) -> Any:
        return self.apply(self.variables, *inputs)
