package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis/internal/layout"
	"github.com/droverhq/drover/internal/redistest"
)

// keyCheck is Lua put in front of every script under test: it shadows
// redis.call and redis.pcall with versions that raise an error when a
// command names a key that is not in KEYS, or a command the check does not
// know (so a new command gets its key positions listed here).
const keyCheck = `
local __redis = redis
local __declared = {}
for _, k in ipairs(KEYS) do __declared[k] = true end
local __first = {}
for _, c in ipairs({"GET", "SET", "HGET", "HMGET", "HSET", "HDEL", "HEXISTS", "HINCRBY", "HGETALL", "ZADD", "ZREM", "ZCARD",
  "ZRANGE", "ZREVRANGE", "ZRANGEBYSCORE", "ZCOUNT", "ZPOPMIN", "ZREMRANGEBYRANK", "ZSCORE", "LPUSH", "RPUSH", "LTRIM", "LLEN",
  "LRANGE", "XADD", "XRANGE", "XDEL", "XTRIM", "HSCAN", "LPOP", "LREM", "ZRANGEBYLEX", "ZREVRANGEBYLEX", "ZLEXCOUNT",
  "ZREMRANGEBYLEX"}) do __first[c] = true end
local __all = {DEL = true, UNLINK = true, EXISTS = true}
local function __check(cmd, ...)
  local c = string.upper(cmd)
  local args = {...}
  if __first[c] then
    if not __declared[args[1]] then error("KEYCHECK " .. c .. " on undeclared key " .. tostring(args[1])) end
  elseif __all[c] then
    for _, k in ipairs(args) do
      if not __declared[k] then error("KEYCHECK " .. c .. " on undeclared key " .. tostring(k)) end
    end
  else
    error("KEYCHECK command " .. c .. " has no known key positions")
  end
end
local redis = setmetatable({
  call = function(cmd, ...) __check(cmd, ...) return __redis.call(cmd, ...) end,
  pcall = function(cmd, ...) __check(cmd, ...) return __redis.pcall(cmd, ...) end,
}, {__index = __redis})
`

func wrapKeyCheck(src string) string { return keyCheck + src }

// keySlot is Redis Cluster's HASH_SLOT of a key, hash tags included.
func keySlot(key string) int { return redistest.Slot(key) }

func TestKeySlot(t *testing.T) {
	// Values from the Redis Cluster specification and redis-cli.
	for key, want := range map[string]int{"123456789": 12739, "foo": 12182, "{user1000}.following": keySlot("user1000"), "{}x": keySlot("{}x")} {
		if got := keySlot(key); got != want {
			t.Errorf("keySlot(%q) = %d, want %d", key, got, want)
		}
	}
}

// slotHook checks that every script call declares keys of one slot and
// records which scripts ran.
type slotHook struct {
	t      testing.TB
	addSHA string
	ours   map[string]bool
	writes map[string]bool // scripts that must take a reply key
	// oneSlot asks that all keys of every call, of every key set, be in
	// one slot (every queue under one slot tag).
	oneSlot bool
	mu      sync.Mutex
	seen    map[string]int // sha -> calls
	spans   int            // calls with the key sets of several queues
}

func (h *slotHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *slotHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.inspect(cmd.Args())
		return next(ctx, cmd)
	}
}

func (h *slotHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		for _, c := range cmds {
			h.inspect(c.Args())
		}
		return next(ctx, cmds)
	}
}

func (h *slotHook) inspect(args []any) {
	name := strings.ToLower(fmt.Sprint(args[0]))
	if name != "evalsha" && name != "eval" {
		return
	}
	n, _ := strconv.Atoi(fmt.Sprint(args[2]))
	keys := args[3 : 3+n]
	sha := fmt.Sprint(args[1])
	if name == "eval" {
		sha = goredis.NewScript(sha).Hash()
	}
	if !h.ours[sha] {
		return
	}
	// A script that writes takes a reply key after its key sets, in the
	// slot of the first. Only the add script may take several queues' key
	// sets (a flow across queues, refused on Cluster); each set is one
	// slot.
	sets := n / layout.NumKeys
	switch reply := n % layout.NumKeys; {
	case reply > 1, sets == 0, sets > 1 && sha != h.addSHA, reply == 0 && h.writes[sha]:
		h.t.Errorf("script %s declares %d keys", sha, n)
		return
	case reply == 1:
		if k := fmt.Sprint(keys[n-1]); keySlot(k) != keySlot(fmt.Sprint(keys[0])) || !strings.Contains(k, "]:r:") && !strings.Contains(k, "}:r:") {
			h.t.Errorf("script %s has reply key %s in another slot than %s", sha, k, keys[0])
		}
	}
	for g := 0; g+layout.NumKeys <= n; g += layout.NumKeys {
		slot := -1
		for _, k := range keys[g : g+layout.NumKeys] {
			s := keySlot(fmt.Sprint(k))
			if slot >= 0 && s != slot {
				h.t.Errorf("script declares keys of two slots: %v", keys)
				break
			}
			slot = s
		}
	}
	if h.oneSlot {
		for _, k := range keys {
			if keySlot(fmt.Sprint(k)) != keySlot(fmt.Sprint(keys[0])) {
				h.t.Errorf("script under one slot tag declares keys of two slots: %v", keys)
				break
			}
		}
	}
	h.mu.Lock()
	h.seen[sha]++
	if sets > 1 {
		h.spans++
	}
	h.mu.Unlock()
}

// repeatable names the scripts that take no reply key: they only read,
// or run twice to the same effect.
var repeatable = map[string]bool{"events": true, "jobs": true, "limits": true, "logs": true, "notify": true, "dedup_holder": true, "groups": true}

// TestScriptKeys runs the store's cases with every script checked: each
// Redis command a script runs names only keys passed in KEYS, and the keys
// of each queue's key set hash to one slot; with every queue under one
// slot tag (Options.SlotTag), all keys of every call do, flows across
// queues included.
func TestScriptKeys(t *testing.T) {
	for _, kind := range []string{"miniredis", "redis", "redis under one slot tag"} {
		t.Run(kind, func(t *testing.T) {
			var client *goredis.Client
			if kind == "miniredis" {
				_, client = redistest.Mini(t)
			} else {
				client = redistest.Start(t, nil).Client(t, &goredis.Options{PoolSize: 64})
			}
			opts := Options{wrapScript: wrapKeyCheck}
			oneSlot := kind == "redis under one slot tag"
			if oneSlot {
				opts.SlotTag = func(string) string { return "all" }
			}
			f := factoryWith(client, opts)
			b := f(t, storeOptions{}).(*Backend)
			hook := &slotHook{t: t, seen: map[string]int{}, addSHA: b.scripts.eval["add"].Hash(), oneSlot: oneSlot}
			hook.ours, hook.writes = map[string]bool{}, map[string]bool{}
			for name, s := range b.scripts.eval {
				hook.ours[s.Hash()] = true
				hook.writes[s.Hash()] = !repeatable[name]
			}
			client.AddHook(hook)
			t.Run("cases", func(t *testing.T) { runSPI(t, f) })
			// The check itself catches an undeclared key.
			err := client.Eval(t.Context(), wrapKeyCheck(`return redis.call("HGET", "other", "x")`), []string{"mine"}).Err()
			if err == nil || !strings.Contains(err.Error(), "KEYCHECK") {
				t.Errorf("undeclared key not caught: %v", err)
			}
			for name, s := range b.scripts.eval {
				if hook.seen[s.Hash()] == 0 {
					t.Errorf("script %s never ran under the check", name)
				}
			}
			if oneSlot && hook.spans == 0 {
				t.Error("no call took the key sets of several queues")
			}
		})
	}
}

// TestScriptsReturnThroughDone checks that every script ends each of its
// top-level returns with done, which appends the events the script
// gathered: a return that skipped it would drop them.
func TestScriptsReturnThroughDone(t *testing.T) {
	entries, err := luaFS.ReadDir("lua")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "layout.lua" {
			continue
		}
		src, err := luaFS.ReadFile("lua/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		returns := 0
		for i, l := range strings.Split(string(src), "\n") {
			if strings.HasPrefix(l, "return") {
				returns++
				if !strings.HasPrefix(l, "return done(") {
					t.Errorf("%s:%d: %q does not return through done", e.Name(), i+1, l)
				}
			}
		}
		if returns == 0 {
			t.Errorf("%s has no top-level return through done", e.Name())
		}
	}
}

func TestPrefixAndQueueNameKeysOneToOne(t *testing.T) {
	_, c := redistest.Mini(t)
	for _, p := range []string{"t:a", "a{b", "a}", "has space", "tab\t", "nl\n"} {
		if _, err := New(c, &Options{Prefix: p}); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("New with prefix %q = %v, want ErrInvalid", p, err)
		}
	}
	// Pairs that once shared keys, a queue name that looks like a
	// prefix, and slot tags that are the queue's name or another's, or
	// with queue names that hold the characters after a tag: each has
	// keys of its own.
	pairs := []struct{ prefix, queue, tag string }{{"t", "a:b", ""}, {"t", "a", ""}, {"ta", "b", ""}, {"t", "b", ""}, {"drover", "drover:q", ""}, {"drover", "q", ""},
		{"t", "a", "a"}, {"t", "b", "a"}, {"t", "a:b", "a"}, {"t", "[a]", "a"}, {"t", "a]:b", "a"}, {"t", "a", "a:b"}, {"t", "r", "a"}, {"t", "x", "b"}}
	seen := map[string]string{}
	for _, p := range pairs {
		o := &Options{Prefix: p.prefix}
		if p.tag != "" {
			o.SlotTag = func(string) string { return p.tag }
		}
		b, err := New(c, o)
		if err != nil {
			t.Fatalf("New(%q): %v", p.prefix, err)
		}
		who := p.prefix + " / " + p.queue + " / tag " + p.tag
		for _, k := range append(b.queueKeys(p.queue), b.replyKey(p.queue, b.reqs.next())) {
			if prev, ok := seen[k]; ok {
				t.Errorf("key %q belongs to both %s and %s", k, prev, who)
			}
			seen[k] = who
		}
		// Queues reads the name back from the meta key.
		head := "{" + p.prefix + ":"
		if got := queueOfMeta(b.key(p.queue, layout.KeyMeta), head, ":meta"); got != p.queue {
			t.Errorf("%s: queue of its meta key %q is %q", who, b.key(p.queue, layout.KeyMeta), got)
		}
	}
}

// Every key of a queue, the deduplication keys' included, is in the slot
// of the queue's hash tag, and has a name of its own.
func TestQueueKeysShareTheQueueSlot(t *testing.T) {
	_, c := redistest.Mini(t)
	b, err := New(c, &Options{Prefix: "t"})
	if err != nil {
		t.Fatal(err)
	}
	tagged, err := New(c, &Options{Prefix: "t", SlotTag: func(q string) string {
		if q == "emails" {
			return ""
		}
		return "shared"
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		b *Backend
		q string
	}{{b, "q"}, {b, "emails"}, {b, "a:b"}, {tagged, "q"}, {tagged, "emails"}, {tagged, "a:b"}} {
		b, q := x.b, x.q
		keys := b.queueKeys(q)
		if len(keys) != layout.NumKeys {
			t.Fatalf("%d keys of %s, want %d", len(keys), q, layout.NumKeys)
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if keySlot(k) != keySlot(b.HashTag(q)) || !strings.HasPrefix(k, b.HashTag(q)) {
				t.Errorf("key %s of queue %s is not under its hash tag %s", k, q, b.HashTag(q))
			}
			if seen[k] {
				t.Errorf("key %s twice in the key set of %s", k, q)
			}
			seen[k] = true
		}
		for _, suffix := range []string{"dd", "ddx", "g", "gx", "gr"} {
			if !seen[strings.TrimSuffix(b.key(q, layout.KeyMeta), "meta")+suffix] {
				t.Errorf("the key set of %s lacks its %s key", q, suffix)
			}
		}
	}
}
