package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/droverhq/drover/bench
BenchmarkAdd/bolt/sequential-2         	    2000	   2368321 ns/op	       422.2 jobs/s	  115957 B/op	     223 allocs/op
BenchmarkAdd/bolt/sequential-2         	    2000	   2000000 ns/op	       500.0 jobs/s	  115000 B/op	     221 allocs/op
BenchmarkAdd/bolt/sequential-2         	    2000	   1000000 ns/op	      1000 jobs/s	  110000 B/op	     220 allocs/op
BenchmarkDispatch/redis/workers=4-2    	     100	  34421066 ns/op	        49.60 max-ms	         1.199 p50-ms	        37.95 p99-ms	         3.970 workers/round	   12911 B/op	     134 allocs/op
BenchmarkParse-8                        1000000          1042 ns/op
PASS
`

func TestRun(t *testing.T) {
	var out, rest bytes.Buffer
	if err := run(strings.NewReader(sample), &out, &rest); err != nil {
		t.Fatal(err)
	}
	want := `| benchmark | value | other metrics | ns/op | B/op | allocs/op |
|---|---:|---|---:|---:|---:|
| Add/bolt/sequential | 500 jobs/s |  | 2,000,000 | 115,000 | 221 |
| Dispatch/redis/workers=4 | 38 p99-ms | 49.6 max-ms, 1.2 p50-ms, 3.97 workers/round | 34,421,066 | 12,911 | 134 |
| Parse | — |  | 1,042 |  |  |
`
	if got := out.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(rest.String(), "goos: linux") || !strings.Contains(rest.String(), "PASS") {
		t.Errorf("other lines not passed on: %q", rest.String())
	}
}

func TestRunEmpty(t *testing.T) {
	var out, rest bytes.Buffer
	if err := run(strings.NewReader("PASS\n"), &out, &rest); err == nil {
		t.Error("no error for input without results")
	}
}
