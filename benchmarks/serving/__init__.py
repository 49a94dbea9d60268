"""The serving load benchmark (`make bench-serve`): protocol clients, the wrk and h2load drivers, the server as a
child process, and MLServer beside it as the anchor."""
