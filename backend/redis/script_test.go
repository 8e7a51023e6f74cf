package redis

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/redistest"
)

// TestScriptsAsFunctions checks that on Redis 7 the scripts run as one
// function library, loaded by the first call; that a server which lost
// its functions gets them again on the next call; and that script errors
// keep their meaning when raised from a function.
func TestScriptsAsFunctions(t *testing.T) {
	client := redistest.Start(t, nil).Client(t, nil)
	x := setup(t, factory(client, nil), storeOptions{})
	b := x.b.(*Backend)
	lib := b.scripts.name
	libraries := func() []string {
		t.Helper()
		ls, err := client.FunctionList(x.ctx, goredis.FunctionListQuery{}).Result()
		if err != nil {
			t.Fatalf("FUNCTION LIST: %v", err)
		}
		var names []string
		for _, l := range ls {
			names = append(names, l.Name)
		}
		return names
	}

	fcalls := func() int {
		t.Helper()
		info, err := client.Info(x.ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(info, "cmdstat_fcall:calls=")
		if !ok {
			return 0
		}
		n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		return n
	}

	x.add(t, "q", backend.NewJob{ID: "a", Name: "n"})
	if b.scripts.evalOnly.Load() || fcalls() == 0 {
		t.Fatalf("after a call: EVALSHA only %v, FCALL calls %d; want functions", b.scripts.evalOnly.Load(), fcalls())
	}
	if names := libraries(); len(names) != 1 || names[0] != lib {
		t.Fatalf("libraries %v, want [%s]", names, lib)
	}

	// A server that lost its functions (a restart without persistence,
	// FUNCTION FLUSH) gets them back from the next call.
	if err := client.FunctionFlush(x.ctx).Err(); err != nil {
		t.Fatal(err)
	}
	jobs := x.lease(t, "q", 10)
	if len(jobs) != 1 || jobs[0].ID != "a" {
		t.Fatalf("leased %v after FUNCTION FLUSH, want job a", jobs)
	}
	if names := libraries(); len(names) != 1 || names[0] != lib {
		t.Fatalf("libraries after the reload %v, want [%s]", names, lib)
	}

	// A script's own error means what it means from EVALSHA.
	if err := b.Obliterate(x.ctx, "q", &backend.ObliterateRequest{}); !errors.Is(err, backend.ErrJobActive) {
		t.Fatalf("obliterate with an active job: %v, want ErrJobActive", err)
	}
	if errs := x.settle(t, "q", complete(jobs[0], "ok")); errs[0] != nil {
		t.Fatalf("settle: %v", errs[0])
	}
	if j := x.job(t, "q", "a"); j.State != backend.StateCompleted || string(j.Result) != "ok" {
		t.Fatalf("job a is %s with result %q, want completed with ok", j.State, j.Result)
	}
	if b.scripts.evalOnly.Load() {
		t.Fatal("the store fell back to EVALSHA")
	}
}

// TestScriptsWithoutFunctions checks that where functions cannot run (on
// a server without FCALL, miniredis here, like Redis 6; for a user who may
// not use them; or when the server refuses the library) the scripts run
// with EVALSHA.
func TestScriptsWithoutFunctions(t *testing.T) {
	cases := []struct {
		name    string
		client  func(t *testing.T) *goredis.Client
		prepare func(b *Backend)
	}{
		{name: "no FCALL", client: func(t *testing.T) *goredis.Client {
			_, c := redistest.Mini(t)
			return c
		}},
		{name: "no permission", client: func(t *testing.T) *goredis.Client {
			srv := redistest.Start(t, nil)
			err := srv.Client(t, nil).Do(t.Context(), "ACL", "SETUSER", "worker", "on", ">secret", "~*", "&*", "+@all", "-fcall", "-function").Err()
			if err != nil {
				t.Fatal(err)
			}
			return srv.Client(t, &goredis.Options{Username: "worker", Password: "secret"})
		}},
		{name: "library refused", client: func(t *testing.T) *goredis.Client {
			return redistest.Start(t, nil).Client(t, nil)
		}, prepare: func(b *Backend) {
			b.scripts.library = "#!lua name=" + b.scripts.name + "\nthis is not Lua"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := setup(t, factory(c.client(t), nil), storeOptions{})
			b := x.b.(*Backend)
			if c.prepare != nil {
				c.prepare(b)
			}
			x.add(t, "q", backend.NewJob{ID: "a", Name: "n"})
			if !b.scripts.evalOnly.Load() {
				t.Fatal("after a call the store still tries functions")
			}
			if jobs := x.lease(t, "q", 10); len(jobs) != 1 || jobs[0].ID != "a" {
				t.Fatalf("leased %v, want job a", jobs)
			}
		})
	}
}
