"""The trainer's workbench: corrections, training, comparison, activation."""

from bot.trainer import tables  # noqa: F401  (tables on the shared Base)
