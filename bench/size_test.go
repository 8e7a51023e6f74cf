package bench

import (
	"testing"
)

// BenchmarkSize adds waiting jobs in bulks of 1,000 and reports the space
// each takes: on Redis the growth of INFO memory used_memory, on bolt the
// growth of the file (bbolt grows its file in steps, so run enough jobs,
// e.g. -benchtime 100000x, for a fair figure). One op is one job.
func BenchmarkSize(b *testing.B) {
	forStores(b, func(b *testing.B, open func(testing.TB, *storeOptions) *env) {
		b.Run("waiting", func(b *testing.B) {
			e := open(b, nil)
			q := e.queue(b, "size")
			fill(b, q, 1) // the queue's own keys or buckets are not per job
			before := e.size(b)
			b.ResetTimer()
			fill(b, q, b.N)
			b.StopTimer()
			b.ReportMetric(float64(e.size(b)-before)/float64(b.N), "bytes/job")
			reportRate(b, b.N, "jobs/s")
		})
	})
}

// size is the space the store takes: Redis used_memory, or the bolt file.
func (e *env) size(tb testing.TB) int64 {
	if e.kind == "redis" {
		return e.usedMemory(tb)
	}
	return e.fileSize(tb)
}
