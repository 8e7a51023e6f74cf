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

// area is one file's worth of cases.
type area struct {
	name string
	run  func(t *testing.T, f Factory)
}

// areas lists every part of the suite, in the order of the store's life.
var areas = []area{
	{"Add", testAdd},
	{"Lease", testLease},
	{"Renew", testRenew},
	{"Settle", testSettle},
	{"Delay", testDelay},
	{"Priority", testPriority},
	{"Retry", testRetry},
	{"Stalled", testStalled},
	{"Retention", testRetention},
	{"Admin", testAdmin},
	{"Query", testQuery},
	{"Progress", testProgress},
	{"Invalid", testInvalid},
	{"Events", testEvents},
	{"Dispatch", testDispatch},
	{"Flow", testFlow},
	{"Scheduler", testScheduler},
	{"Property", testProperty},
	{"Worker", testWorker},
	{"FlowWorker", testFlowWorker},
	{"PropertyFlow", testPropertyFlow},
	{"EventsWorkload", testEventsWorkload},
	{"DispatchWorker", testDispatchWorker},
}

// Run runs the whole suite against the stores newBackend makes.
func Run(t *testing.T, newBackend Factory) {
	t.Helper()
	for _, a := range areas {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			a.run(t, newBackend)
		})
	}
}
