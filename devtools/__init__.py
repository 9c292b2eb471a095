"""Development tooling, not needed in production: the demo, process supervision, the Temporal dev
server launcher. Uses the sandboxes (``q2c_sandbox``)."""
