// Package conformance is the one specification of drover's storage
// behaviour: a suite of tests that every backend.Full store must pass.
//
// A store's test file makes one call:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, func(t testing.TB, o conformance.Options) backend.Full {
//			return openStore(t, o) // a fresh, empty store using o
//		})
//	}
//
// Each case gets a fresh store from the factory, so cases run in parallel
// and never see each other's jobs. After each case the suite checks the
// store's invariants (every job in exactly one state, leases only on active
// jobs, at most one pending iteration per scheduler).
package conformance
