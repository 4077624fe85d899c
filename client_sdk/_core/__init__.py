"""The SDK's pure room core: one room as one client sees it, without I/O.

:class:`~client_sdk._core.state.RoomState` (``state.py``) is the one facade the
drivers use. It holds the room's position in the event sequence and its epoch
secrets, and delegates each concept to a collaborator that owns its part of the
state (composition: plain objects wired in its constructor, no mixins):

- ``ledger.py``: the verified log, the room's standing at every log index, a
  message's place in room order, pinned heads.
- ``admission.py``: whether a message, deletion or erasure counts (head, epoch,
  place, signature, decryption, counters, in that order).
- ``counters.py`` and ``alarms.py``: counter streams and what excuses their gaps
  (erasures, tombstones, refused counters, retention purges); withheld messages;
  the open security alarms.
- ``moderation.py``, ``bodies.py``, ``reports.py``, ``programs.py``, ``risk.py``:
  what room-level messages mean (mutes and the moderation record; profile, rules,
  schedule, risk plan and acceptance; reports; a program's support queue; help
  shown in a buddy chat and risk alerts to a program's moderators).
- ``builders.py`` and ``outgoing.py``: this member's own signed operations, and
  its message counters.
- ``persistence.py``: :class:`RoomSnapshot`, the stored form.
- ``step.py`` and ``followups.py``: what the core hands its driver (a
  :class:`Step` per input, with typed follow-ups for work the driver must do).

No module here imports asyncio, sockets, sqlite, httpx or websockets
(``tests/client_sdk/test_architecture.py`` walks their imports). This file
re-exports nothing: import each name from the module that defines it.
"""
