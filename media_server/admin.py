"""Admin of this app arrives with its issue."""
