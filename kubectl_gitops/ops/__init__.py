"""One function per command (``run_diff``, ``run_sync``, ...), returning result dataclasses.

The CLI parses flags into settings and option dataclasses, calls one of these, and renders the result.
Nothing here prints; progress goes out as events.
"""
