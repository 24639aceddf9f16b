"""What the REST channel reports of a turn with `with_nlu`, named once for both ends: the channel
(bot/channels/rest.py, in Rasa's process) and the desk's client, which reads the same from a tracker
when a reply came late (bot/rasa_client.py). No Rasa import: the desk imports this."""

# Slots reported with `with_nlu`: what the trainers' inbox shows. Never the case proof. `requested_slot`
# tells which booking question the next message answers (a name or a contact: masked in the inbox).
REPORTED_SLOTS = ("guide_item", "aspect", "language", "requested_slot")
# Slots reported only when this turn set them: the `context` slot (which context decided the
# answer) keeps its value across turns, and a case lookup or small talk decided nothing.
TURN_SLOTS = ("context",)
