"""Running GLM-V locally: what this machine has, which models fit, and the servers that serve them."""
