"""The one workaround for installing tensorflowjs 4.22 next to current TensorFlow.

tensorflowjs imports `tensorflow_decision_forests` at converter import time (for TF-DF models, which Rosetta
never converts), and every TF-DF release is broken against TF 2.21. The package is installed with --no-deps
(requirements-nodeps.txt) and an empty stand-in module satisfies the import. Import the converter only
through `tfjs_converter()`.
"""
from __future__ import annotations

import sys
import types
from types import ModuleType


def tfjs_converter() -> ModuleType:
    sys.modules.setdefault("tensorflow_decision_forests", types.ModuleType("tensorflow_decision_forests"))
    from tensorflowjs.converters import tf_saved_model_conversion_v2

    return tf_saved_model_conversion_v2
