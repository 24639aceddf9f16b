"""The cached action-result validation accepts and refuses exactly what Rasa's own does."""

from __future__ import annotations

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from bot.channels import rasa_patches

GOOD = {
    "events": [{"event": "slot", "name": "guide_item", "value": "x"}],
    "responses": [{"text": "好", "custom": {"a": 1}}],
}
BAD = [{"events": "not a list"}, {"events": [{"no_event_key": 1}]}, {"responses": [1]}]


def test_same_verdicts_as_rasas_own_validation():
    rasa_patches.validate_action_replies_once()
    action = RemoteAction("action_answer_guide", None)
    assert action._validate_action_result(GOOD) is True
    jsonschema.validate(GOOD, RemoteAction.action_response_format_spec())
    for bad in BAD:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, RemoteAction.action_response_format_spec())
        with pytest.raises(jsonschema.ValidationError) as error:
            action._validate_action_result(bad)
        assert "Failed to validate Action server response" in error.value.message
