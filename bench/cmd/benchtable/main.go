// Command benchtable turns the output of go test -bench into a markdown
// table: one row per benchmark, with its main metric (bytes/job, p99-ms, or
// else its first rate such as jobs/s) as the value, its other custom
// metrics, and its allocations. When
// a benchmark ran more than once (-count), each metric is the median of its
// runs. Lines that are not benchmark results pass to stderr.
//
//	go test -run '^$' -bench . ./bench | go run ./bench/cmd/benchtable
package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	if err := run(os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

// metric is one value of a result line, such as 12345 jobs/s.
type metric struct {
	unit  string
	value float64
}

// bench gathers the runs of one benchmark.
type bench struct {
	name  string
	units []string             // in the order of the first run
	runs  map[string][]float64 // unit -> one value per run
}

func run(in io.Reader, out, rest io.Writer) error {
	var order []*bench
	byName := map[string]*bench{}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		name, ms, ok := parseLine(sc.Text())
		if !ok {
			fmt.Fprintln(rest, sc.Text())
			continue
		}
		b := byName[name]
		if b == nil {
			b = &bench{name: name, runs: map[string][]float64{}}
			byName[name] = b
			order = append(order, b)
		}
		for _, m := range ms {
			if _, seen := b.runs[m.unit]; !seen {
				b.units = append(b.units, m.unit)
			}
			b.runs[m.unit] = append(b.runs[m.unit], m.value)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(order) == 0 {
		return fmt.Errorf("no benchmark results in the input")
	}
	fmt.Fprintln(out, "| benchmark | value | other metrics | ns/op | B/op | allocs/op |")
	fmt.Fprintln(out, "|---|---:|---|---:|---:|---:|")
	for _, b := range order {
		value := "—"
		primary := b.primary()
		if primary != "" {
			value = fmt.Sprintf("%s %s", format(median(b.runs[primary])), primary)
		}
		var custom []string
		for _, u := range b.units {
			if !standard(u) && u != primary {
				custom = append(custom, fmt.Sprintf("%s %s", format(median(b.runs[u])), u))
			}
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %s |\n", b.name, value, strings.Join(custom, ", "),
			b.cell("ns/op"), b.cell("B/op"), b.cell("allocs/op"))
	}
	return nil
}

// primary picks the metric of the value column: a size or a tail latency
// where the benchmark reports one, else its first rate, else its first
// custom metric.
func (b *bench) primary() string {
	for _, u := range []string{"bytes/job", "p99-ms"} {
		if _, ok := b.runs[u]; ok {
			return u
		}
	}
	first := ""
	for _, u := range b.units {
		if standard(u) {
			continue
		}
		if strings.HasSuffix(u, "/s") {
			return u
		}
		if first == "" {
			first = u
		}
	}
	return first
}

func (b *bench) cell(unit string) string {
	vs, ok := b.runs[unit]
	if !ok {
		return ""
	}
	return format(median(vs))
}

func standard(unit string) bool {
	return unit == "ns/op" || unit == "B/op" || unit == "allocs/op" || unit == "MB/s"
}

// parseLine reads "BenchmarkX/y-2  1000  123 ns/op  45 jobs/s ...". The
// name loses its Benchmark prefix and its -GOMAXPROCS suffix.
func parseLine(line string) (string, []metric, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return "", nil, false
	}
	if _, err := strconv.Atoi(f[1]); err != nil {
		return "", nil, false
	}
	name := strings.TrimPrefix(f[0], "Benchmark")
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	var ms []metric
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return "", nil, false
		}
		ms = append(ms, metric{unit: f[i+1], value: v})
	}
	return name, ms, true
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// format prints with thousands separators above 1,000 and three
// significant digits below.
func format(v float64) string {
	if math.Abs(v) >= 1000 {
		n := strconv.FormatInt(int64(math.Round(v)), 10)
		neg := strings.HasPrefix(n, "-")
		n = strings.TrimPrefix(n, "-")
		var b strings.Builder
		for i, c := range n {
			if i > 0 && (len(n)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		if neg {
			return "-" + b.String()
		}
		return b.String()
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
