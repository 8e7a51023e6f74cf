package redis

import (
	"slices"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func FuzzDecode(f *testing.F) {
	f.Add(encode("a", "", "xyz:1"))
	f.Add("3:ab")
	f.Add("-1:")
	f.Fuzz(func(t *testing.T, s string) {
		fields, err := decode(s)
		if err != nil {
			return
		}
		// A record may carry trailing empty fields that encode leaves
		// out; re-encoding keeps every other field as it was.
		trimmed := fields
		for len(trimmed) > 0 && trimmed[len(trimmed)-1] == "" {
			trimmed = trimmed[:len(trimmed)-1]
		}
		again, err := decode(encode(fields...))
		if err != nil || !slices.Equal(again, trimmed) {
			t.Fatalf("re-encoded %q as %q (%v)", s, again, err)
		}
		_, _ = decodeJob("q", "id", s, s, s)
		_, _ = decodeJob("q", "id", encode("n", "", "", "", "", "", s), "", s)
		_, _ = decodeScheduler(s)
		_, _ = decodeEntry(nil, 3, []any{"ts", "1", "c", "3", "d", s}, 0, 10)
	})
}

func TestSchedulerRecordRoundTrip(t *testing.T) {
	at := time.UnixMilli(1_900_000_000_000)
	s := &backend.Scheduler{ID: "s", Repeat: []byte("r"), Next: at, Upcoming: []time.Time{at.Add(time.Minute)}, Final: true,
		Template: backend.NewJob{Name: "n", Data: []byte("d\x00\xff"), Priority: 3, Attempts: 2, Timeout: time.Second,
			Backoff: backend.Backoff{Type: backend.BackoffExponential, Delay: time.Second, Jitter: 0.5}, KeepCompleted: backend.Retention{Count: 3}}}
	got, err := decodeScheduler(encodeScheduler(s))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != s.ID || !got.Next.Equal(at) || !slices.EqualFunc(got.Upcoming, s.Upcoming, time.Time.Equal) || !got.Final ||
		string(got.Template.Data) != string(s.Template.Data) || got.Template.Backoff != s.Template.Backoff || got.Template.KeepCompleted != s.Template.KeepCompleted {
		t.Fatalf("round trip: %+v", got)
	}
}
