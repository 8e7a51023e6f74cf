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

func TestConformanceMiniredis(t *testing.T) { conformance.Run(t, adapt(miniFactory(t))) }

func TestConformanceRedis(t *testing.T) { conformance.Run(t, adapt(realFactory(t))) }
