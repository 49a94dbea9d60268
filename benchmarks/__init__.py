"""What measures the product, kept apart from it (never installed, never in an image): per-artifact latency and
throughput (`make bench`), eager vs compiled training, the Keras-backend export routes, and the serving load
benchmark with its MLServer anchor (`make bench-serve`)."""
