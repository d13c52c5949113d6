"""Fixtures for the emulators; filled in with the emulators."""
