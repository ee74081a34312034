"""One module per message type; `registry.build_handlers` maps each type to its handler."""
