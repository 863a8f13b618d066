"""Benchmarks: speed, memory and detection quality, written to the README by one command."""
