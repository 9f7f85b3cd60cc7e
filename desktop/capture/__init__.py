"""Screen capture: one Protocol, an ordered chain of handlers, one module per backend."""
