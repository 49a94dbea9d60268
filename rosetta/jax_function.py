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

    def split(self) -> tuple[list[Any], Callable[..., Any]]:
        """The variables' array leaves, and `apply_on(arrays, *inputs)` that rebuilds the variables from them.

        Any pytree travels this way (a dict, a tuple or list, a NamedTuple, an Equinox module, a registered
        class): converters that must hold the weights as their own variables (jax2tf -> tf.Variable) see a flat
        list of arrays, and the rest of the tree (its structure, non-array leaves such as an Equinox module's
        activation function) stays Python, closed over.
        """
        import jax
        import numpy as np

        leaves, treedef = jax.tree_util.tree_flatten(self.variables)
        is_array = [isinstance(leaf, (np.ndarray, np.generic, jax.Array)) for leaf in leaves]
        arrays = [leaf for leaf, array in zip(leaves, is_array) if array]

        def apply_on(arrays_: list[Any], *inputs: Any) -> Any:
            it = iter(arrays_)
            return self.apply(treedef.unflatten([next(it) if array else leaf
                                                 for leaf, array in zip(leaves, is_array)]), *inputs)
        return arrays, apply_on
