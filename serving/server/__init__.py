"""The server process: settings, kserve's REST and gRPC servers wired together, limits, metrics, the download page."""
