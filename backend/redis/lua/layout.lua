-- layout.lua: the layout of a queue, generated from the Go package
-- backend/redis/internal/layout by `go generate`; do not edit.

-- NK is the number of keys of a queue's key set; K holds the keys of the
-- call, set by begin.
local NK = 22
local K

-- keyset returns the keys of key set number set (1-based) of the call,
-- named, with the queue's name.
local function keyset(set, name)
  local o = (set - 1) * NK
  return {
    name = name,
    meta = K[o + 1],
    j = K[o + 2],
    h = K[o + 3],
    w = K[o + 4],
    p = K[o + 5],
    d = K[o + 6],
    a = K[o + 7],
    c = K[o + 8],
    f = K[o + 9],
    wc = K[o + 10],
    e = K[o + 11],
    wake = K[o + 12],
    logs = K[o + 13],
    o = K[o + 14],
    s = K[o + 15],
    st = K[o + 16],
    deps = K[o + 17],
    dd = K[o + 18],
    ddx = K[o + 19],
    g = K[o + 20],
    gx = K[o + 21],
    gr = K[o + 22],
  }
end

-- Fields of a job record.
local J_NAME = 1
local J_DATA = 2
local J_CREATED = 3
local J_SEQ = 4
local J_PARENT_QUEUE = 5
local J_PARENT_ID = 6
local J_CHILDREN = 7
local J_PRIORITY = 8
local J_ATTEMPTS = 9
local J_BACKOFF = 10
local J_TIMEOUT = 11
local J_KEEP_COMPLETED = 12
local J_KEEP_FAILED = 13
local J_POLICY = 14
local J_SCHEDULER = 15
local J_META = 16
local J_DEDUP = 17
local J_GROUP = 18
local J_N = 18

-- Fields of a job's hot record.
local H_STATE = 1
local H_MADE = 2
local H_TOKEN = 3
local H_LEASE_EXPIRES = 4
local H_WORKER = 5
local H_PROCESSED = 6
local H_FINISHED = 7
local H_RUN_AT = 8
local H_STALLED = 9
local H_RESULT = 10
local H_REASON = 11
local H_STACK = 12
local H_PROGRESS = 13
local H_LOGS = 14
local H_PENDING = 15
local H_CANCEL = 16
local H_CANCEL_REASON = 17
local H_N = 17

-- Fields of a scheduler record.
local S = {ID = 1, REVISION = 2, REPEAT = 3, TEMPLATE = 4, ITERATIONS = 5, NEXT = 6, UPCOMING = 7, FINAL = 8, UPDATED = 9, N = 9}

-- Fields of a deduplication key's entry.
local D = {JOB = 1, MODE = 2, EXPIRES = 3, KEEP = 4, NEXT = 5, N = 5}

-- Fields of a flow child's outcome.
local O = {STATE = 1, RESULT = 2, REASON = 3, IGNORED = 4, N = 4}

-- Fields of a group's record.
local G = {READY = 1, ACTIVE = 2, PAUSED = 3, PLACE = 4, WAKE = 5, ROOM = 6, N = 6}

-- Extra fields of an event.
local X = {RESULT = 1, REASON = 2, PROGRESS = 3, RUN_AT = 4, SCHEDULER = 5, COUNT = 6, DATA = 7, KEY = 8, GROUP = 9, N = 9}

-- State codes, by state.
local STATE_CODE = {["waiting"] = "w", ["delayed"] = "d", ["active"] = "a", ["waiting-children"] = "p", ["completed"] = "c", ["failed"] = "f"}
-- States, by code.
local CODE_STATE = {["w"] = "waiting", ["d"] = "delayed", ["a"] = "active", ["p"] = "waiting-children", ["c"] = "completed", ["f"] = "failed"}
local ST_WAITING = "w"
local ST_DELAYED = "d"
local ST_ACTIVE = "a"
local ST_WAITING_CHILDREN = "p"
local ST_COMPLETED = "c"
local ST_FAILED = "f"

-- Event codes, by type.
local EV_CODE = {["added"] = "a", ["waiting"] = "w", ["delayed"] = "d", ["prioritized"] = "p", ["active"] = "A", ["progress"] = "g", ["completed"] = "c", ["failed"] = "f", ["retrying"] = "r", ["stalled"] = "s", ["removed"] = "x", ["duplicated"] = "u", ["waiting-children"] = "W", ["paused"] = "P", ["resumed"] = "R", ["drained"] = "D", ["cleaned"] = "C", ["scheduler-upserted"] = "S", ["scheduler-removed"] = "X", ["retried"] = "T", ["promoted"] = "o", ["changed"] = "h", ["cancelled"] = "k", ["snoozed"] = "z", ["published"] = "b", ["deduplicated"] = "U", ["limits-changed"] = "L", ["rate-limited"] = "l", ["group-limits-changed"] = "G", ["group-paused"] = "v", ["group-resumed"] = "V"}

-- Error codes of script error replies.
local ERR_NOTFOUND = "DROVER_NOTFOUND"
local ERR_ACTIVE = "DROVER_ACTIVE"
local ERR_ITERATION = "DROVER_ITERATION"
local ERR_REVISION = "DROVER_REVISION"
local ERR_CONFLICT = "DROVER_CONFLICT"
local ERR_LEASELOST = "DROVER_LEASELOST"
local ERR_WRONGSTATE = "DROVER_WRONGSTATE"

-- The ready order (see Go).
local PRIORITY_SHIFT = 2147483648
local ORDER_HALF = 1073741824

-- Texts and bounds of the backend package.
local STALLED_REASON = "job stalled more than MaxStalled times"
local ITERATION_PREFIX = "repeat:"
local CANCELLED_REASON = "job cancelled"
local MAX_BULK = 1000

-- Groups: the name of the jobs without a group, the widths of the
-- numbers in the group index, and the separator of a group's fields.
local GROUPS = {UNGROUPED = "\0", PLACE_DIGITS = 16, TIME_DIGITS = 13, SEP = ":"}

-- Deduplication modes and outcomes.
local DEDUP = {THROTTLE = "throttle", DEBOUNCE = "debounce", IGNORED = "ignored", REPLACED = "replaced", DEFERRED = "deferred"}
