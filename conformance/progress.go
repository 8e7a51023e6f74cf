package conformance

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/droverhq/drover/backend"
)

func testProgress(t *testing.T, f Factory) {
	t.Run("progress is stored without the lease", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "n"})
		if err := b.store.UpdateProgress(b.ctx, b.q, id, []byte(`{"pct":10}`)); err != nil {
			t.Fatal(err)
		}
		j := b.leaseOne()
		if string(j.Progress) != `{"pct":10}` {
			t.Errorf("Progress = %q", j.Progress)
		}
		if err := b.store.UpdateProgress(b.ctx, b.q, id, []byte(`{"pct":60}`)); err != nil {
			t.Fatal(err)
		}
		if got := b.job(id); string(got.Progress) != `{"pct":60}` || got.Lease != j.Lease {
			t.Errorf("Progress = %q lease %+v", got.Progress, got.Lease)
		}
	})

	t.Run("progress of an unknown job is ErrNotFound", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		before := b.snapshot(b.q)
		if err := b.store.UpdateProgress(b.ctx, b.q, "ghost", []byte(`1`)); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("UpdateProgress = %v, want ErrNotFound", err)
		}
		b.unchanged(b.q, before, "progress of an unknown job")
	})

	t.Run("log lines are appended, counted and paged", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		id := b.addOne(backend.NewJob{Name: "n"})
		var lines []string
		for i := range 7 {
			line := fmt.Sprintf("step %d: ok", i)
			n, err := b.store.AddLog(b.ctx, b.q, id, line)
			if err != nil {
				t.Fatal(err)
			}
			if n != i+1 {
				t.Errorf("AddLog returned %d, want %d", n, i+1)
			}
			lines = append(lines, line)
		}
		if got := b.job(id).LogCount; got != 7 {
			t.Errorf("LogCount = %d, want 7", got)
		}
		for _, c := range []struct{ off, lim, from, to int }{{0, 0, 0, 7}, {0, 3, 0, 3}, {3, 3, 3, 6}, {6, 3, 6, 7}, {9, 3, 7, 7}} {
			res, err := b.store.Logs(b.ctx, b.q, id, &backend.LogsRequest{Offset: c.off, Limit: c.lim})
			if err != nil {
				t.Fatal(err)
			}
			if res.Total != 7 || !slices.Equal(res.Lines, lines[c.from:c.to]) {
				t.Errorf("Logs(%d, %d) = %q total %d, want %q total 7", c.off, c.lim, res.Lines, res.Total, lines[c.from:c.to])
			}
		}
	})

	t.Run("logs of an unknown job are ErrNotFound", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		if _, err := b.store.AddLog(b.ctx, b.q, "ghost", "x"); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("AddLog = %v, want ErrNotFound", err)
		}
		if _, err := b.store.Logs(b.ctx, b.q, "ghost", &backend.LogsRequest{}); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Logs = %v, want ErrNotFound", err)
		}
	})

	t.Run("progress and log lines over the payload limit are rejected", func(t *testing.T) {
		t.Parallel()
		b := setupWith(t, f, Options{MaxPayload: 1024})
		id := b.addOne(backend.NewJob{Name: "n"})
		before := b.snapshot(b.q)
		big := strings.Repeat("x", 1025)
		if err := b.store.UpdateProgress(b.ctx, b.q, id, []byte(big)); !errors.Is(err, backend.ErrTooLarge) || !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("UpdateProgress = %v, want ErrTooLarge and ErrInvalid", err)
		}
		if _, err := b.store.AddLog(b.ctx, b.q, id, big); !errors.Is(err, backend.ErrTooLarge) {
			t.Errorf("AddLog = %v, want ErrTooLarge", err)
		}
		b.unchanged(b.q, before, "oversized progress")
		if j := b.job(id); j.Progress != nil || j.LogCount != 0 {
			t.Errorf("job has progress %q and %d log lines", j.Progress, j.LogCount)
		}
	})
}
