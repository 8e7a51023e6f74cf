package conformance

import "testing"

func testDispatchWorker(t *testing.T, f Factory) {}
