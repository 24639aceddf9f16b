from bot.db.database import CaseView, Database, database_url
from bot.db.seed import seed

__all__ = ["CaseView", "Database", "database_url", "seed"]
