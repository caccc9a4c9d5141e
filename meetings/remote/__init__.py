"""Remote control (F5): sessions, pairing of the desktop helper, input relay.

See docs/remote-control.md.
"""
