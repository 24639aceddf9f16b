"""Per-conversation locks: messages of one conversation in order, and no lock kept once it is idle."""

from __future__ import annotations

import asyncio

from bot.desk.locks import KeyedLocks
from tests.desk.helpers import new_id, say


async def test_one_key_is_held_by_one_task_at_a_time_and_dropped_when_idle():
    locks = KeyedLocks()
    order: list[str] = []

    async def work(name: str, pause: float) -> bool:
        async with locks.hold("c1") as was_free:
            order.append(f"{name} in")
            await asyncio.sleep(pause)
            order.append(f"{name} out")
            return was_free

    first = asyncio.create_task(work("a", 0.05))
    await asyncio.sleep(0)
    second = asyncio.create_task(work("b", 0))
    assert await first is True and await second is False, "the second waited: it must read fresh state"
    assert order == ["a in", "a out", "b in", "b out"]
    assert len(locks) == 0


async def test_a_failing_holder_releases_the_key():
    locks = KeyedLocks()
    try:
        async with locks.hold("c1"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert len(locks) == 0
    async with locks.hold("c1") as was_free:
        assert was_free


async def test_the_desk_keeps_no_lock_for_conversations_it_answered(desk_without_rasa):
    for _ in range(3):
        await say(desk_without_rasa, new_id(), "你好")
    assert len(desk_without_rasa.app_service.locks) == 0
    assert len(desk_without_rasa.app_service.delivering) == 0  # the locks around emitting the bot's lines too


async def test_the_delivery_lock_goes_on_without_redis_and_the_routing_lock_does_not():
    """The lock that orders what is emitted (DeskService.delivering) must not fail a clerk's claim while
    Redis restarts: after its short wait it holds this desk's lock only. The routing lock refuses instead
    (the stored message is routed by the sweep once Redis is back)."""
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisDown

    from bot.desk.locks import ClusterLocks
    from tests.desk.helpers import free_port

    nowhere = aioredis.Redis(port=free_port(), socket_connect_timeout=0.2)
    delivering = ClusterLocks(nowhere, prefix="t:delivery:", redis_wait_s=0.3, required=False)
    routing = ClusterLocks(nowhere, prefix="t:routing:", redis_wait_s=0.3)
    try:
        async with delivering.hold("c1"):
            assert len(delivering) == 1
        assert len(delivering) == 0
        try:
            async with routing.hold("c1"):
                raise AssertionError("held without Redis")
        except RedisDown:
            pass
    finally:
        await nowhere.aclose() if hasattr(nowhere, "aclose") else await nowhere.close()
