package deploytest

import (
	"testing"
	"time"

	"github.com/droverhq/drover/internal/redistest"
)

// TestClusterReshardUnderLoad moves the slot of each load's queue to
// another master, keys and all, while producers and workers use it.
// During the move the source answers ASK for keys it no longer has and
// TRYAGAIN for scripts whose keys are on both nodes; go-redis and the
// store retry those, and producers repeat a failed Add with the same job
// IDs. No Add fails, no acknowledged job is lost, and no write is lost,
// so a job runs again only after a recovery as stalled.
func TestClusterReshardUnderLoad(t *testing.T) {
	t.Parallel()
	c, _, loads := clusterLoads(t, true)
	start := time.Now()
	for _, l := range loads {
		slot := redistest.Slot("{fo:" + l.queue + "}")
		from := c.MasterOf(t, slot)
		var to *redistest.Server
		for _, m := range c.Masters(t) {
			if m != from {
				to = m
				break
			}
		}
		moveStart := time.Now()
		c.MoveSlot(t, slot, to)
		t.Logf("%s: moving slot %d took %s", l.name, slot, time.Since(moveStart).Round(time.Millisecond))
	}
	for _, rep := range finishLoads(t, loads, start, 0, true) {
		if rep.failedAdds > 0 {
			t.Errorf("%d Add calls failed while slots moved: %q", rep.failedAdds, rep.addErrs)
		}
	}
}
