package redis

import (
	"context"
	"errors"
	"testing"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/conformance"
	goredis "github.com/redis/go-redis/v9"
)

func adapt(f storeFactory) conformance.Factory {
	return func(t testing.TB, o conformance.Options) backend.Full {
		return f(t, storeOptions{Clock: o.Clock, MaxPayload: o.MaxPayload, EventRetention: o.EventRetention})
	}
}

// miniredis runs Lua in an interpreter written in Go: far slower than a real
// server under the race detector, so the heavy cases run smaller there; the
// real server below runs them at full size.
func TestConformanceMiniredis(t *testing.T) {
	conformance.RunWith(t, adapt(miniFactory(t)), conformance.Config{Emulated: true, Digest: digest, Tx: appTx})
}

func TestConformanceRedis(t *testing.T) {
	conformance.RunWith(t, adapt(realFactory(t)), conformance.Config{Digest: digest, Tx: appTx})
}

// appTx runs the application's transactions of the conformance suite as
// MULTI/EXEC on the store's client, with the application's key under the
// store's prefix.
var appTx = &conformance.AppTx{
	Run: func(ctx context.Context, store backend.Full, key, value string, fn func(backend.Tx) error) error {
		b := store.(*Backend)
		_, err := b.client.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
			pipe.Set(ctx, b.HashTag("app")+":"+key, value, 0)
			return fn(b.InTx(pipe))
		})
		return err
	},
	AppValue: func(ctx context.Context, store backend.Full, key string) (string, error) {
		b := store.(*Backend)
		v, err := b.client.Get(ctx, b.HashTag("app")+":"+key).Result()
		if errors.Is(err, goredis.Nil) {
			return "", nil
		}
		return v, err
	},
}
