"""Messages that carry several items (a text and two images in one QQ or Feishu message).

Each item reaches the intake as an `IncomingMessage` of its own: the first with the platform's
message id, the next ones with `<id>#<n>`, unless an item has an id of its own. A recall names
the message only, so the item ids of recent messages are remembered to recall every item.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

REMEMBERED = 20_000


def item_ids(message_id: str, own_ids: Sequence[str | None]) -> tuple[str, ...]:
    """The id of each item of a message, in order (`own_ids[n]` where it is not None)."""
    return tuple(
        own or (message_id if n == 0 else f"{message_id}#{n}") for n, own in enumerate(own_ids)
    )


class RecentItems:
    """Message id -> item ids, for the last `REMEMBERED` messages."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self._size = size
        self._items: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    def remember(self, message_id: str, ids: tuple[str, ...]) -> None:
        self._items[message_id] = ids
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def of(self, message_id: str) -> tuple[str, ...]:
        """The items a recall of `message_id` takes back (the message itself when unknown:
        it was received before a restart, and had one item or its first is what counts)."""
        return self._items.get(message_id, (message_id,))
