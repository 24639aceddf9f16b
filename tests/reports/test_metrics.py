"""Prometheus /metrics on the desk: loopback or a token only; messages by outcome, Rasa errors, the queue."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.desk.helpers import new_id, say


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_only_to_loopback_or_with_the_token(desk_without_rasa, monkeypatch):
    url = f"{desk_without_rasa.url}/metrics"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as reply:
            assert reply.status == 200
            assert reply.headers["Content-Type"].startswith("text/plain")
        # Through a reverse proxy every client looks local: a forwarded request is refused.
        async with http.get(url, headers={"X-Forwarded-For": "203.0.113.9"}) as reply:
            assert reply.status == 403
        monkeypatch.setenv("METRICS_TOKEN", "s3cret-token")
        headers = {"X-Forwarded-For": "203.0.113.9"}
        async with http.get(url, headers={**headers, "Authorization": "Bearer wrong"}) as reply:
            assert reply.status == 403
        async with http.get(url, headers={**headers, "Authorization": "Bearer s3cret-token"}) as reply:
            assert reply.status == 200


async def test_rasa_down_counts_an_error_and_a_waiting_conversation(desk_without_rasa):
    server = desk_without_rasa
    await say(server, new_id(), "护照过期了怎么换")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/metrics") as reply:
            found = samples(await reply.text())
    assert found[("desk_citizen_messages_total", (("outcome", "bot_unavailable"),))] == 1
    assert found[("desk_rasa_errors_total", (("kind", "error"),))] == 1
    assert found[("desk_queue_length", ())] == 1
    assert found[("desk_queue_oldest_wait_seconds", ())] >= 0
    assert found[("desk_clerks_online", ())] == 0
    assert found[("desk_message_seconds_count", ())] == 1
    assert found[("desk_bot_seconds_count", ())] == 0
