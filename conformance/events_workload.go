package conformance

import "testing"

func testEventsWorkload(t *testing.T, f Factory) {}
