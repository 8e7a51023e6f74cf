package conformance

import "testing"

func testFlowWorker(t *testing.T, f Factory) {}
