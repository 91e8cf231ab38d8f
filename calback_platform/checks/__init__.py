"""Asset checks: config-driven SQL checks declared in checks.yaml."""
