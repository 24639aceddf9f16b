"""`python -m bot.knowledge check [ids...]`: validate the knowledge base."""

import sys

from bot.knowledge.schema import KnowledgeError
from bot.knowledge.store import KnowledgeBase


def main(argv: list[str]) -> int:
    try:
        knowledge = KnowledgeBase()
    except KnowledgeError as error:
        wanted = argv[2:]
        problems = [p for p in error.problems if not wanted or any(w in p for w in wanted)]
        print("\n".join(problems) or "no problems in the named guides (others have some)")
        print(f"{len(error.problems)} problem(s) in all", file=sys.stderr)
        return 1 if problems else 0
    print(f"ok: {len(knowledge.guides)} guides")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
