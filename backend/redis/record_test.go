package redis

import (
	"maps"
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
			Backoff: backend.Backoff{Type: backend.BackoffExponential, Delay: time.Second, Jitter: 0.5}, KeepCompleted: backend.Retention{Count: 3},
			Meta: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "e": ""}}}
	got, err := decodeScheduler(encodeScheduler(s))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != s.ID || !got.Next.Equal(at) || !slices.EqualFunc(got.Upcoming, s.Upcoming, time.Time.Equal) || !got.Final ||
		string(got.Template.Data) != string(s.Template.Data) || got.Template.Backoff != s.Template.Backoff || got.Template.KeepCompleted != s.Template.KeepCompleted ||
		!maps.Equal(got.Template.Meta, s.Template.Meta) {
		t.Fatalf("round trip: %+v", got)
	}
}

// A new job's record ends with its metadata, which a job without any
// leaves out: such a record is as long as before metadata existed.
func TestJobMetaRecord(t *testing.T) {
	nj := &backend.NewJob{Name: "n", Priority: 2}
	plain := jobOpts(nj, "")
	if plain != encode(num(2)) {
		t.Fatalf("options of a job without metadata: %q", plain)
	}
	nj.Meta = map[string]string{"b": "2", "a": "1"}
	rec := jobHead(nj) + encodeList([]string{"", "", "", "", ""}) + jobOpts(nj, "")
	j, err := decodeJob("q", "7", rec, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(j.Meta, nj.Meta) || j.Priority != 2 {
		t.Fatalf("decoded Meta %v, Priority %d", j.Meta, j.Priority)
	}
	if _, err := decodeJob("q", "7", jobHead(nj)+encodeList([]string{"", "", "", "", "", "", "", "", "", "", "", "", "", "3:1:a"}), "", ""); err == nil {
		t.Fatal("metadata of an odd number of items decoded")
	}
}
