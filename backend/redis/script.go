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
	fn      map[string]string // script name -> its function's name
	library string            // the FUNCTION LOAD source
	name    string            // the library's name
	// evalOnly is set once a call showed that the server cannot run
	// the library (or from the start, where it should not).
	evalOnly atomic.Bool
	loadMu   sync.Mutex
	log      *slog.Logger
}

// newScripts builds the scripts from lua/*.lua. With evalOnly, scripts
// always run with EVALSHA; wrap, if not nil, rewrites each script's source
// first (and implies evalOnly).
func newScripts(evalOnly bool, wrap func(string) string, log *slog.Logger) (*scripts, error) {
	lib, err := luaFS.ReadFile("lua/lib.lua")
	if err != nil {
		return nil, err
	}
	files, err := fs.Glob(luaFS, "lua/*.lua")
	if err != nil {
		return nil, err
	}
	s := &scripts{eval: make(map[string]*goredis.Script), fn: make(map[string]string), log: log}
	names, bodies := []string{}, []string{}
	h := sha1.New()
	h.Write(lib)
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "lua/"), ".lua")
		if name == "lib" {
			continue
		}
		body, err := luaFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		src := string(lib) + "\nbegin(KEYS, ARGV)\n" + string(body)
		if wrap != nil {
			src = wrap(src)
		}
		s.eval[name] = goredis.NewScript(src)
		names, bodies = append(names, name), append(bodies, string(body))
		fmt.Fprintf(h, "\x00%s\x00%s", name, body)
	}
	// The library is named by a hash of its scripts, so that processes
	// running different versions of drover on one server each load and
	// call their own.
	s.name = "drover_" + hex.EncodeToString(h.Sum(nil)[:8])
	var lb strings.Builder
	lb.WriteString("#!lua name=" + s.name + "\n")
	lb.Write(lib)
	for i, name := range names {
		s.fn[name] = s.name + "_" + name
		fmt.Fprintf(&lb, "\nredis.register_function('%s', function(KEYS, ARGV)\nbegin(KEYS, ARGV)\n%s\nend)\n", s.fn[name], bodies[i])
	}
	s.library = lb.String()
	s.evalOnly.Store(evalOnly || wrap != nil)
	return s, nil
}

// run runs script name over keys with args.
func (s *scripts) run(ctx context.Context, c goredis.UniversalClient, name string, keys []string, args ...any) (any, error) {
	if !s.evalOnly.Load() {
		res, err := c.FCall(ctx, s.fn[name], keys, args...).Result()
		if err == nil || !(noFunctions(err) || functionMissing(err)) {
			return res, err
		}
		if functionMissing(err) {
			// A new server, or one that restarted or flushed its
			// functions: nothing ran, so load and call again.
			err = s.load(ctx, c)
			if err == nil {
				return c.FCall(ctx, s.fn[name], keys, args...).Result()
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
	return s.eval[name].Run(ctx, c, keys, args...).Result()
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
