"""The core's sub-commands, one module per group; each module has ``register(cli)``."""
