package redis

import (
	"context"
	"errors"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/redistest"
)

// A server that refuses the caller (no password, a wrong one, a user whose
// ACL forbids drover's commands) gives ErrDenied with a hint, never
// ErrUnavailable, which would tell the caller to retry.
func TestRefusedCredentialsAreErrDenied(t *testing.T) {
	srv := redistest.Start(t, nil)
	ctx := context.Background()
	admin := srv.Client(t, nil)
	for _, cmd := range [][]any{
		{"ACL", "SETUSER", "reader", "on", ">pw", "~*", "+@read", "+ping", "+hello"},
		{"ACL", "SETUSER", "default", "on", "resetpass", ">topsecret"},
	} {
		if err := admin.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	bulk := make([]backend.NewJob, 200)
	for i := range bulk {
		bulk[i] = backend.NewJob{Name: strings.Repeat("n", 100)}
	}
	for _, c := range []struct {
		name string
		opts goredis.Options
		jobs []backend.NewJob
	}{
		{"no password", goredis.Options{}, bulk[:1]},
		{"a wrong password", goredis.Options{Password: "guess"}, bulk[:1]},
		{"a user without scripts", goredis.Options{Username: "reader", Password: "pw"}, bulk[:1]},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := c.opts
			o.MaxRetries = -1
			o.DisableIdentity = true
			b, err := New(srv.Client(t, &o), &Options{Prefix: "auth"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.Add(ctx, "q", &backend.AddRequest{Jobs: c.jobs})
			if !errors.Is(err, backend.ErrDenied) || errors.Is(err, backend.ErrUnavailable) {
				t.Fatalf("Add = %v, want ErrDenied", err)
			}
			if !strings.Contains(err.Error(), "password") {
				t.Errorf("%q does not say what to check", err)
			}
		})
	}
}
