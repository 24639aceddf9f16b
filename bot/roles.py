"""The console's roles, defined once: who may do what."""

from __future__ import annotations

ROLES = ("clerk", "trainer", "admin")
# Serve citizens: claim, reply, transfer, hand back, close.
STAFF = ("clerk", "admin")
# Correct training data, train, put a model live.
TRAINERS = ("trainer", "admin")
