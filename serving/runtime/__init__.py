"""The models: manifest entries, the hash-checked repository, ONNX Runtime sessions, dynamic batching."""
