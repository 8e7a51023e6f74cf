package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
)

// scripts runs the store's Lua scripts. On a server with Redis 7
// Functions they are one function library, loaded once, so that a call
// does not set up lib.lua again (about 20µs of every script call);
// elsewhere (Redis 6, emulators, Cluster) each is a script of its own run
// with EVALSHA. Both run the same text: lib.lua, then begin(KEYS, ARGV),
// then the script's body.
type scripts struct {
	eval    map[string]*goredis.Script
	text    map[string]string // script name -> its text, for EVAL
	fn      map[string]string // script name -> its function's name
	library string            // the FUNCTION LOAD source
	name    string            // the library's name
	// evalOnly is set once a call showed that the server cannot run
	// the library (or from the start, where it should not).
	evalOnly atomic.Bool
	loadMu   sync.Mutex
	log      *slog.Logger
}

// partOrder lists the parts of lua/parts in the order they are put
// together: each after the parts it uses, but for transitions and flows,
// which use each other (transitions declares notify_parent, which flows
// sets). layout.lua always comes first, and every script has base,
// events and call.
var partOrder = []string{"base", "events", "call", "record", "dedup", "window", "groups", "order", "wake", "transitions", "flows", "change", "schedulers"}

// luaSource is the Lua text of the scripts: the generated layout, the
// parts, and each script's body with the parts it names.
type luaSource struct {
	layout string
	parts  map[string]string
	needs  map[string][]string // part -> the parts it names (@requires)
	uses   map[string][]string // script -> the parts it names (@include), and call
	bodies map[string]string   // script -> body
	names  []string            // scripts, sorted
}

// readLua reads lua/layout.lua, lua/parts/*.lua and lua/*.lua.
func readLua() (*luaSource, error) {
	src := &luaSource{parts: map[string]string{}, needs: map[string][]string{}, uses: map[string][]string{}, bodies: map[string]string{}}
	layout, err := luaFS.ReadFile("lua/layout.lua")
	if err != nil {
		return nil, err
	}
	src.layout = string(layout)
	for _, p := range partOrder {
		text, err := luaFS.ReadFile("lua/parts/" + p + ".lua")
		if err != nil {
			return nil, err
		}
		src.parts[p] = string(text)
		src.needs[p] = directive(string(text), "--- @requires ")
	}
	files, err := fs.Glob(luaFS, "lua/*.lua")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "lua/"), ".lua")
		if name == "layout" {
			continue
		}
		body, err := luaFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		src.bodies[name] = string(body)
		src.uses[name] = append([]string{"call"}, directive(string(body), "--- @include ")...)
		src.names = append(src.names, name)
	}
	for _, m := range []map[string][]string{src.needs, src.uses} {
		for name, needs := range m {
			for _, p := range needs {
				if _, ok := src.parts[p]; !ok {
					return nil, fmt.Errorf("drover: lua %s names part %q, which does not exist", name, p)
				}
			}
		}
	}
	return src, nil
}

// directive returns the comma-separated names of the lines of text that
// start with prefix.
func directive(text, prefix string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			for _, n := range strings.Split(rest, ",") {
				if n = strings.TrimSpace(n); n != "" {
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// closure returns the parts that the named ones use, them included, in
// partOrder.
func (src *luaSource) closure(names []string) []string {
	in := map[string]bool{}
	var add func(string)
	add = func(p string) {
		if in[p] {
			return
		}
		in[p] = true
		for _, q := range src.needs[p] {
			add(q)
		}
	}
	for _, n := range names {
		add(n)
	}
	var out []string
	for _, p := range partOrder {
		if in[p] {
			out = append(out, p)
		}
	}
	return out
}

// prelude returns the layout and the given parts, as one text.
func (src *luaSource) prelude(parts []string) string {
	var b strings.Builder
	b.WriteString(src.layout)
	for _, p := range parts {
		b.WriteString("\n")
		b.WriteString(src.parts[p])
	}
	return b.String()
}

// stripComments drops the lines of Lua text that are only a comment, or
// empty: a server that compiles a script on every call (an emulator) then
// has less to read, and the code is the same.
func stripComments(text string) string {
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// newScripts builds the scripts from lua/. With evalOnly, scripts always
// run with EVALSHA; wrap, if not nil, rewrites each script's source first
// (and implies evalOnly).
func newScripts(evalOnly bool, wrap func(string) string, log *slog.Logger) (*scripts, error) {
	src, err := readLua()
	if err != nil {
		return nil, err
	}
	s := &scripts{eval: make(map[string]*goredis.Script), text: make(map[string]string), fn: make(map[string]string), log: log}
	for _, name := range src.names {
		text := stripComments(src.prelude(src.closure(src.uses[name])) + "\nbegin(KEYS, ARGV)\n" + src.bodies[name])
		if wrap != nil {
			text = wrap(text)
		}
		s.eval[name] = goredis.NewScript(text)
		s.text[name] = text
	}
	// The library holds every part once and a function per script. It is
	// named by a hash of its text, so that processes running different
	// versions of drover on one server each load and call their own.
	lib := src.prelude(partOrder)
	h := sha1.New()
	h.Write([]byte(lib))
	for _, name := range src.names {
		fmt.Fprintf(h, "\x00%s\x00%s", name, src.bodies[name])
	}
	s.name = "drover_" + hex.EncodeToString(h.Sum(nil)[:8])
	var lb strings.Builder
	lb.WriteString("#!lua name=" + s.name + "\n")
	lb.WriteString(lib)
	for _, name := range src.names {
		s.fn[name] = s.name + "_" + name
		fmt.Fprintf(&lb, "\nredis.register_function('%s', function(KEYS, ARGV)\nbegin(KEYS, ARGV)\n%s\nend)\n", s.fn[name], src.bodies[name])
	}
	s.library = lb.String()
	s.evalOnly.Store(evalOnly || wrap != nil)
	return s, nil
}

// run runs script name over keys with args.
func (s *scripts) run(ctx context.Context, c goredis.UniversalClient, name string, keys []string, args ...any) (any, error) {
	return s.runVia(ctx, c, name, keys, args, func(ctx context.Context, a []any) (any, error) {
		return c.Do(ctx, a...).Result()
	})
}

// runVia is run with each command (FCALL, EVALSHA or EVAL, with its
// arguments) sent by send, which returns its reply.
func (s *scripts) runVia(ctx context.Context, c goredis.UniversalClient, name string, keys []string, args []any, send func(context.Context, []any) (any, error)) (any, error) {
	call := func(cmd, script string) (any, error) {
		a := make([]any, 0, 3+len(keys)+len(args))
		a = append(a, cmd, script, len(keys))
		for _, k := range keys {
			a = append(a, k)
		}
		return send(ctx, append(a, args...))
	}
	if !s.evalOnly.Load() {
		res, err := call("fcall", s.fn[name])
		if err == nil || !(noFunctions(err) || functionMissing(err)) {
			return res, err
		}
		if functionMissing(err) {
			// A new server, or one that restarted or flushed its
			// functions: nothing ran, so load and call again.
			err = s.load(ctx, c)
			if err == nil {
				return call("fcall", s.fn[name])
			}
			// Whatever the server refused (the command, the user, the
			// library itself), the scripts still run with EVALSHA; only
			// a failed connection goes back to the caller.
			var refused goredis.Error
			if !errors.As(err, &refused) {
				return nil, err
			}
			if !noFunctions(err) {
				s.log.Warn("drover: loading the function library failed; running scripts with EVALSHA", "err", err)
			}
		}
		s.evalOnly.Store(true)
	}
	res, err := call("evalsha", s.eval[name].Hash())
	if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		return call("eval", s.text[name])
	}
	return res, err
}

// load loads the function library; one that is there already is fine.
func (s *scripts) load(ctx context.Context, c goredis.UniversalClient) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	err := c.FunctionLoad(ctx, s.library).Err()
	if err != nil && strings.Contains(err.Error(), "already exists") {
		return nil
	}
	return err
}

// noFunctions reports an error that says the server cannot run drover's
// functions: it has no FCALL or FUNCTION command (Redis 6, emulators), or
// the connection's user may not use them.
func noFunctions(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "unknown command") || strings.HasPrefix(msg, "noperm")
}

// functionMissing reports the FCALL error of a function the server does
// not have.
func functionMissing(err error) bool {
	return strings.Contains(err.Error(), "Function not found")
}
