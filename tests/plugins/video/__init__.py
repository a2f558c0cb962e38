"""Tests of the built-in video plugin."""
