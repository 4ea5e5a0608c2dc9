"""The operator page: what it shows (`view`), who may act on it (`sessions`) and its web server (`web`).
The node that runs it on the graph is `cell_controller.nodes.hmi`."""
