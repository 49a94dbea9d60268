"""Tools around the server, never imported by it: protocol clients, a child-process runner, the load
benchmark."""
