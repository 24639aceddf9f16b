"""The console's roles, defined once: who may do what."""

from __future__ import annotations

ROLES = ("clerk", "trainer", "admin", "supervisor")
# The console (queue, live conversations, transcripts): everyone but the supervisor.
CONSOLE = ("clerk", "trainer", "admin")
# Serve citizens: claim, reply, transfer, hand back, close.
STAFF = ("clerk", "admin")
# Correct training data, train, put a model live.
TRAINERS = ("trainer", "admin")
# The reports (/reports): figures and masked examples, never a transcript or personal data. The
# supervisor is read-only and sees nothing else; the admin sees everything.
REPORTS = ("supervisor", "admin")
