"""Test support: synthetic TLC releases and a local HTTP fixture server that can misbehave."""
