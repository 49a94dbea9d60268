"""Child process of test_keras_backends.py: Keras runs one backend per process (KERAS_BACKEND, set by the parent).

    python tests/models/keras_backend_child.py DIR

Saves DIR/<backend>.keras (the built-in CNN with canonical random weights, BatchNorm statistics included) unless
it is there, then loads every DIR/*.keras not yet run on this backend and writes its outputs on DIR/images.npy to
DIR/<file stem>.on-<backend>.npy.
"""
import sys
from pathlib import Path

import numpy as np

from rosetta.keras_backends import BACKENDS, current
from rosetta.models import keras_backend, lane
from rosetta.models.architectures import CNN, random_weights


def main(directory: Path) -> None:
    backend = current()
    name = next(n for n in BACKENDS if keras_backend(n) == backend)
    module = lane(name)
    images = np.load(directory / "images.npy")
    own = directory / f"{backend}.keras"
    if not own.is_file():
        model = module.set_weights(module.build(CNN, 0), random_weights(CNN, seed=3))
        model.save(own)
    for path in sorted(directory.glob("*.keras")):
        out = directory / f"{path.stem}.on-{backend}.npy"
        if not out.is_file():
            import keras

            np.save(out, module.predict(keras.models.load_model(path), images))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
