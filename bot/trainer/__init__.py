"""The trainer's workbench: corrections, training, comparison, activation."""

from bot.trainer import models  # noqa: F401  (tables on the shared Base)
