"""The project's two changes to Rasa 3.6, each a named function; `install()` applies both.

They are applied when the Rasa server sets up the project's REST channel
(`RestChannel.from_credentials`, called for credentials.yml), not on import.

- `validate_action_replies_once`: Rasa checks every action server reply with
  `jsonschema.validate()`, which checks the schema itself again on each call:
  14 ms of the 35 ms a guide answer took on this machine (bench/latency.py). A
  validator built once does the same check in 0.4 ms. Replies that do not fit
  the schema are still refused, with Rasa's own message.
- `show_channel_the_turn`: once the policies have run, an output channel that
  asks for it (`turn_done`) sees the tracker, so the REST channel can answer with
  what the NLU understood without a second request for the tracker.
"""

from __future__ import annotations

import functools
from typing import Any, Dict

import jsonschema
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import OutputChannel
from rasa.core.processor import MessageProcessor
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.trackers import DialogueStateTracker


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    spec = RemoteAction.action_response_format_spec()
    return jsonschema.validators.validator_for(spec)(spec)


def _validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
    try:
        _validator().validate(result)
        return True
    except jsonschema.ValidationError as error:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from the "
            f"Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error


def validate_action_replies_once() -> None:
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]


_rasa_prediction_loop = MessageProcessor._run_prediction_loop


async def _prediction_loop_then_tell_channel(
    self: MessageProcessor, output_channel: OutputChannel, tracker: DialogueStateTracker
) -> None:
    await _rasa_prediction_loop(self, output_channel, tracker)
    turn_done = getattr(output_channel, "turn_done", None)
    if turn_done is not None:
        turn_done(tracker)


def show_channel_the_turn() -> None:
    MessageProcessor._run_prediction_loop = _prediction_loop_then_tell_channel  # type: ignore[method-assign]


def install() -> None:
    """Both changes; applying them twice is harmless."""
    validate_action_replies_once()
    show_channel_the_turn()
