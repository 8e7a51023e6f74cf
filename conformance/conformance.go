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
	// sized is set instead of run for areas with heavy cases.
	sized func(t *testing.T, f Factory, cfg Config)
}

// areas lists every part of the suite, in the order of the store's life.
var areas = []area{
	{name: "Add", run: testAdd},
	{name: "Lease", run: testLease},
	{name: "Renew", run: testRenew},
	{name: "Settle", run: testSettle},
	{name: "Delay", run: testDelay},
	{name: "Priority", run: testPriority},
	{name: "Retry", run: testRetry},
	{name: "Stalled", run: testStalled},
	{name: "Retention", run: testRetention},
	{name: "Admin", run: testAdmin},
	{name: "Query", run: testQuery},
	{name: "Queues", run: testQueues},
	{name: "Progress", run: testProgress},
	{name: "Meta", sized: testMeta},
	{name: "Invalid", run: testInvalid},
	{name: "BadInput", sized: testBadInput},
	{name: "Events", sized: testEvents},
	{name: "Dispatch", run: testDispatch},
	{name: "Flow", sized: testFlow},
	{name: "Scheduler", sized: testScheduler},
	{name: "Control", sized: testControl},
	{name: "Tx", sized: testTx},
	{name: "Dedup", run: testDedup},
	{name: "Limits", run: testLimits},
	{name: "Groups", run: testGroups},
	{name: "Property", run: testProperty},
	{name: "Worker", run: testWorker},
	{name: "FlowWorker", run: testFlowWorker},
	{name: "Typed", run: testTyped},
	{name: "PropertyFlow", sized: testPropertyFlow},
	{name: "PropertyLimits", run: testPropertyLimits},
	{name: "EventsWorkload", sized: testEventsWorkload},
	{name: "DispatchWorker", sized: testDispatchWorker},
}

// Config tunes one run of the suite. The zero value runs everything at
// full size.
type Config struct {
	// Emulated declares that the stores run on an emulator far slower than
	// the real server (such as miniredis under the race detector). The
	// heavy cases (the ten-thousand-job event workload, thousand-round
	// races, the thousand-child flow, property tests) then run at a tenth
	// of their size; every other case is unchanged. A store tested on an
	// emulator must also pass the suite at full size on the real server.
	Emulated bool
	// Digest, if set, returns a digest of everything the store holds (a
	// bbolt file's every bucket; every key of a Redis store's prefix), so
	// that the cases on bad input can check that a rejected call left the
	// store byte for byte as it was. Without it they compare what the
	// store reports (counts, jobs, schedulers, events).
	Digest func(store backend.Full) (string, error)
	// Tx, if set, runs transactions of the application's own on a store,
	// for the cases of adds in them; without it those cases are skipped.
	Tx *AppTx
}

// size scales a heavy case's workload: a tenth of n for an emulated store
// or under -short.
func (c Config) size(n int) int {
	if c.Emulated || testing.Short() {
		return max(n/10, 1)
	}
	return n
}

// Run runs the whole suite at full size against the stores newBackend
// makes.
func Run(t *testing.T, newBackend Factory) {
	t.Helper()
	RunWith(t, newBackend, Config{})
}

// RunWith runs the whole suite as cfg says.
func RunWith(t *testing.T, newBackend Factory, cfg Config) {
	t.Helper()
	for _, a := range areas {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			if a.run != nil {
				a.run(t, newBackend)
			} else {
				a.sized(t, newBackend, cfg)
			}
		})
	}
}
