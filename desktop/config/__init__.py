"""Settings (one declared schema, stored as JSON), endpoint profiles, and secrets via the keychain."""
