"""Shared Documents Repository (F6, F7). Built by the documents issue."""
