"""Every Redis key leaksentry uses, in one place. All start with `ls:`.

Sections belong to the module that owns them; nothing else writes those keys.
"""

from __future__ import annotations

PREFIX = "ls:"

# --- registry of controlled documents (bot/registry/) ----------------------------------------
REGISTRY = PREFIX + "reg:"
REGISTRY_META = REGISTRY + "meta"  # hash: layout -> the index layout the data was written with
REGISTRY_DOCS = REGISTRY + "docs"  # sorted set: doc_id by registration time
REGISTRY_DOC = REGISTRY + "d:"  # + doc_id -> hash: title, level, filename, sha256, page_ids, ...
REGISTRY_PAGE = REGISTRY + "p:"  # + page id (hex) -> doc id, page number, encoded fingerprint
REGISTRY_NEXT_PAGE = REGISTRY + "next"  # the last page id given out (INCRBY)
REGISTRY_TEXT = REGISTRY + "t:"  # + text bucket (hex) -> packed postings (bot/registry/index.py)
REGISTRY_IMAGE = REGISTRY + "i:"  # + chunk position and value (hex) -> packed postings

# --- enrolled groups (bot/groups.py) and what the intake records (bot/intake.py) -------------
GROUPS = PREFIX + "grp:"  # + room_id -> hash: topic, admins, officers, enrolled_by, enrolled_at
GROUPS_ENROLLED = PREFIX + "grps:enrolled"  # set of enrolled room ids
GROUPS_TOLD = PREFIX + "grps:told"  # set of SHA-256 of room ids already told how to enroll
INTAKE_SEEN = PREFIX + "in:seen:"  # + message key -> 1 while a delivery is being taken in
INTAKE_UNSCANNED = PREFIX + "in:unscanned"  # stream: video/voice/empty items (no content)
INTAKE_FAILURES = PREFIX + "in:failed"  # stream: items that could not be fetched
INTAKE_COUNTS = PREFIX + "in:counts"  # hash: kind -> messages taken in, "unscanned:" + kind

# --- scan queue, blobs, result cache (bot/queue.py, bot/worker.py) ---------------------------
JOBS_STREAM = PREFIX + "jobs"  # stream of unfinished jobs (an entry is deleted when finished)
JOBS_GROUP = "workers"
DEAD_LETTER_STREAM = PREFIX + "jobs:dead"  # stream: job, reason, attempts, at
JOB = PREFIX + "job:"  # + job_id -> "queued" | "done" | "dead" (enqueue once, finish once)
JOB_STATS = PREFIX + "jobs:stats"  # hash: cache_hits, done, dead
HOUSEKEEPING = PREFIX + "jobs:housekeeping"  # held by the worker pruning this interval
BLOB = PREFIX + "blob:"  # + sha256 -> bytes (clean: hours; evidence of an incident: days)
SCAN_CACHE = PREFIX + "scan:"  # + sha256 + ":" + config digest -> report JSON
EVIDENCE_PICTURE = PREFIX + "evpic:"  # + sha256:member:page -> PNG with boxes (evidence days)

# --- incidents (bot/incidents.py) ------------------------------------------------------------
INCIDENTS = PREFIX + "inc:"
INCIDENT = INCIDENTS + "id:"  # + id -> hash; + id + ":seen" / ":recalls" / ":audit" / ":warned"
INCIDENT_SEQ = INCIDENTS + "seq"  # counter behind the short ids
INCIDENT_BY_SHA = INCIDENTS + "sha:"  # + sha256 -> incident id
INCIDENT_BY_JOB = INCIDENTS + "job:"  # + job_id -> the IncidentEvent JSON of that job
INCIDENT_BY_MESSAGE = INCIDENTS + "msg:"  # + message key -> incident id
INCIDENT_EARLY_RECALL = INCIDENTS + "recall:"  # + message key -> time (recalled before scanned)
INCIDENT_INDEX = INCIDENTS + "idx:"  # + "all" | "room:"+id | "verdict:"+v | "status:"+s -> zset

# --- outbox and rate limits (bot/outbox/, bot/ratelimit.py) ---------------------------------
OUTBOX_STREAM = PREFIX + "outbox"  # stream of deliveries: DMs, webhook, e-mail, replies
OUTBOX_URGENT_STREAM = PREFIX + "outbox:urgent"  # stream of member warnings, read first
OUTBOX_GROUP = "senders"
OUTBOX = PREFIX + "out:"
OUTBOX_QUEUED = OUTBOX + "q:"  # + entry id -> queued (a redelivered job queues nothing twice)
OUTBOX_SENT = OUTBOX + "sent:"  # + entry id -> unix time sent (a re-read sends nothing twice)
OUTBOX_LOCK = OUTBOX + "lock:"  # + entry id or "batch:" + contact -> consumer delivering it
OUTBOX_ATTEMPTS = OUTBOX + "attempts"  # hash: entry id or "batch:" + contact -> failed tries
OUTBOX_WINDOW = OUTBOX + "win:"  # + contact -> alert DM sent within the batch window
OUTBOX_HELD = OUTBOX + "held:"  # + contact -> list of alert entries waiting for one batched DM
OUTBOX_HELD_DUE = OUTBOX + "held-due"  # zset: contact -> unix time its held alerts are due
OUTBOX_WARN_WINDOW = OUTBOX + "wwin:"  # + room id -> a member warning was sent there lately
OUTBOX_WARN_HELD = OUTBOX + "wheld:"  # + room id -> list of warnings for one merged message
OUTBOX_WARN_DUE = OUTBOX + "wheld-due"  # zset: room id -> unix time its held warnings are due
OUTBOX_LOG = OUTBOX + "log"  # stream: one record per delivered entry (latency, audit)
OUTBOX_FAILED = OUTBOX + "failed"  # stream: entries given up on, with the last error
OUTBOX_RATE = OUTBOX + "rate"  # zset of granted send slots (the shared WeChat rate limit)
OUTBOX_RATE_LAST = OUTBOX + "rate:last"  # the last granted slot

# --- console: users, sessions, login limits, audit log (bot/web/) ----------------------------
CONSOLE_USER = PREFIX + "con:user:"  # + name -> hash {uid, role, password_hash, created_at}
CONSOLE_USER_NAMES = PREFIX + "con:users"  # set of user names
CONSOLE_SESSION = PREFIX + "con:sess:"  # + sha256(cookie id) -> hash; expires when idle
CONSOLE_LOGIN_FAILURES = PREFIX + "con:fail:"  # + "user:NAME" | "ip:ADDR" [+ ":wait"] -> count
CONSOLE_LOGIN_KNOWN = PREFIX + "con:known:"  # + NAME hash + ":" + ADDR: signed in from there
CONSOLE_AUDIT = PREFIX + "con:audit"  # stream, append-only: actor, action, target, ip, detail
CONSOLE_AUDIT_SAMPLE = PREFIX + "con:audit:n:"  # + action:NAME hash:ADDR:window -> count
CONSOLE_THUMBNAIL = PREFIX + "con:thumb:"  # + registry doc id -> PNG of its first page

# --- metrics shared by every process (bot/metrics.py) ----------------------------------------
METRICS = PREFIX + "metrics:"  # + metric name -> hash of counts (labels or histogram buckets)
