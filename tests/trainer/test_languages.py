"""The trainer's side of issue 8: the inbox filters by language, examples come per language, and a
correction keeps its language (bot/data/nlu/<code>/corrections.yml)."""

from __future__ import annotations

from bot.knowledge import intent_for
from bot.trainer.nlu_files import corrections_file
from tests.desk.helpers import Clerk
from tests.trainer.test_api import desk_for_trainers, seed_message  # noqa: F401 (the fixture)


async def test_inbox_by_language_and_a_correction_keeps_its_language(desk_for_trainers):  # noqa: F811
    server = desk_for_trainers
    italian = seed_message(
        server, "vorrei la procura per mio fratello", {"intent": "nlu_fallback", "confidence": 0.2, "language": "it"}, {}
    )
    chinese = seed_message(server, "我想办委托书", {"intent": "nlu_fallback", "confidence": 0.3, "language": "zh"}, {})
    # Without the slot in data.nlu, the language of the bot's answer tells.
    french = seed_message(server, "je veux une procuration", {"intent": "nlu_fallback"}, {"language": "fr"})
    trainer = await Clerk.login(server, "培训师乙", role="trainer")
    try:
        _, body = await trainer.get("/trainer/api/inbox?language=it")
        assert [e["message_id"] for e in body["entries"]] == [italian]
        _, body = await trainer.get("/trainer/api/inbox?language=fr")
        assert [e["message_id"] for e in body["entries"]] == [french]
        _, body = await trainer.get("/trainer/api/inbox")
        assert {e["message_id"] for e in body["entries"]} >= {italian, chinese, french}

        intent = intent_for("notary-power-of-attorney")
        status, answer = await trainer.post(f"/trainer/api/inbox/{italian}/correct", {"intent": intent})
        assert status == 200, answer
        written = (server.data_dir / "nlu" / corrections_file("it")).read_text(encoding="utf-8")
        assert "vorrei la procura per mio fratello" in written
        assert not (server.data_dir / "nlu" / corrections_file("zh")).exists()

        _, examples = await trainer.get(f"/trainer/api/items/{intent}/examples")
        languages = [e["lang"] for e in examples["examples"]]
        assert {"zh", "it", "fr", "en"} <= set(languages)
        assert languages == sorted(languages), "grouped by language"
        _, vocabulary = await trainer.get("/trainer/api/vocabulary")
        assert vocabulary["languages"]["it"] == "Italiano"
    finally:
        await trainer.close()


def test_a_candidate_worse_in_any_language_is_refused_unless_an_admin_overrides(tmp_path):
    import asyncio

    from bot.db import Database
    from bot.trainer.activation import Activation
    from bot.trainer.compare import compare
    from bot.trainer.tables import DONE, TrainingJob
    from tests.trainer.helpers import report

    chinese = report(0.97, [])
    live = {"zh": chinese, "it": report(0.92, []), "fr": report(0.91, []), "en": report(0.93, [])}
    better_everywhere = {**live, "it": report(0.95, [])}
    worse_in_french = {**live, "fr": report(0.85, [])}
    assert not compare(chinese, chinese, better_everywhere, live)["worse_than_live"]
    result = compare(chinese, chinese, worse_in_french, live)
    assert result["worse_than_live"] and result["worse_languages"] == ["fr"]
    row = next(r for r in result["per_language"] if r["language"] == "fr")
    assert row["delta"] < 0 and row["candidate"] == 0.85

    class Server:
        async def load_model(self, model_path: str) -> bool:
            return True

        async def model_file(self) -> str | None:
            return None

    database = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    database.create_schema()
    model = tmp_path / "candidate.tar.gz"
    model.write_bytes(b"model")
    with database.session() as session:
        session.add(
            TrainingJob(
                id=1, status=DONE, stage="done", progress=1.0, started_by="培训师", config="config.yml",
                model_path=str(model), result=result,
            )
        )  # fmt: skip
    activation = Activation(database, Server())
    refused = asyncio.run(activation.activate(1, "培训师", "trainer", override=True))
    assert not refused.ok and "fr" in refused.message
    assert asyncio.run(activation.activate(1, "管理员", "admin", override=True)).ok
