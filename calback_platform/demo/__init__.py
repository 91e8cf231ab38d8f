"""The synthetic Calback data generator: the platform's local default source."""
