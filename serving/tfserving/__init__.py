"""TF Serving: the image's pins (image.py), its config generated from the export manifest (config.py), and the
check that every SavedModel it bakes in runs in the TensorFlow release the image is built on
(savedmodel_check.py, run by that release's side virtualenv)."""
