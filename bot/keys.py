"""Every Redis key leaksentry uses, in one place. All start with `ls:`.

Sections belong to the module that owns them; nothing else writes those keys.
"""

from __future__ import annotations

PREFIX = "ls:"

# --- registry of controlled documents (bot/registry.py) -------------------------------------
REGISTRY = PREFIX + "reg:"

# --- enrolled groups (bot/groups.py) ---------------------------------------------------------
GROUPS = PREFIX + "grp:"

# --- scan queue, blobs, result cache (bot/queue.py, bot/worker.py) ---------------------------
JOBS_STREAM = PREFIX + "jobs"
JOBS_GROUP = "workers"
DEAD_LETTER_STREAM = PREFIX + "jobs:dead"
BLOB = PREFIX + "blob:"  # + sha256 -> bytes (expires with the evidence retention)
SCAN_CACHE = PREFIX + "scan:"  # + sha256 + ":" + config digest -> report JSON

# --- incidents (bot/incidents.py) ------------------------------------------------------------
INCIDENTS = PREFIX + "inc:"

# --- outbox and rate limits (bot/outbox.py) --------------------------------------------------
OUTBOX_STREAM = PREFIX + "outbox"
OUTBOX_GROUP = "senders"
OUTBOX = PREFIX + "out:"
