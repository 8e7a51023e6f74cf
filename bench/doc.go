// Package bench holds drover's benchmarks: go test -bench over both stores,
// bbolt (a file in a temporary directory, fsync on) and Redis (a real
// redis-server on a loopback port, skipped when redis-server is missing).
//
// Every benchmark reports the rate of its unit of work (jobs/s, flows/s,
// children/s, upserts/s or events/s) and its allocations; the dispatch benchmark
// reports latency percentiles and the workers used per round, and the size
// benchmarks report bytes per waiting job.
//
//	go test -run '^$' -bench . -benchtime 2s ./bench | go run ./bench/cmd/benchtable
//
// Processing with a backlog of 1,000,000 waiting jobs runs only with
// DROVER_BENCH_LARGE=1, since filling the backlog takes minutes. The
// comparison with asynq and BullMQ lives in bench/compare, a module of its
// own.
package bench
