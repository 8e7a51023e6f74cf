package redis

import (
	"testing"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/conformance"
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
	conformance.RunWith(t, adapt(miniFactory(t)), conformance.Config{Emulated: true, Digest: digest})
}

func TestConformanceRedis(t *testing.T) {
	conformance.RunWith(t, adapt(realFactory(t)), conformance.Config{Digest: digest})
}
