"""`python -m bot.db seed`: create the schema and seed the demo cases."""

import sys

from bot.db import Database, seed


def main() -> int:
    database = Database()
    added = seed(database)
    print(f"database ready ({database.engine.url.render_as_string(hide_password=True)}); demo cases added: {added}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
