package bolt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"go.etcd.io/bbolt"
)

// storeFile makes a store file with jobs in several states, the last
// commit adding the job "last" alone, and returns its path. The jobs have
// IDs with gaps between them ("j0000", "j0002", …).
func storeFile(t testing.TB, jobs int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "drover.db")
	b, err := Open(path, &Options{Clock: newClock(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	nj := make([]backend.NewJob, jobs)
	for i := range nj {
		nj[i] = backend.NewJob{Name: "damage", ID: fmt.Sprintf("j%04d", 2*i), Data: bytes.Repeat([]byte{byte('a' + i%26)}, 100)}
	}
	add(t, b, "q", nj...)
	leased := lease(t, b, "q", jobs/4)
	var done []backend.Settlement
	for i, j := range leased {
		if i%2 == 0 {
			done = append(done, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeComplete, Result: []byte("ok")})
		}
	}
	settle(t, b, "q", done...)
	add(t, b, "q", backend.NewJob{Name: "damage", ID: "last"})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// fileFacts are what the damage cases need to know of a store file, as
// bbolt itself reports them.
type fileFacts struct {
	pageSize   int64
	pages      int64 // the high-water mark
	newerMeta  int64 // the meta page of the last commit
	jobsRoot   int64 // root page of queue q's jobs bucket, a branch page
	jobsLeaves []int64
}

func factsOf(t *testing.T, path string, raw []byte) fileFacts {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var f fileFacts
	err = db.View(func(tx *bbolt.Tx) error {
		f.pageSize = int64(db.Info().PageSize)
		f.pages = tx.Size() / f.pageSize
		f.newerMeta = int64(tx.ID() % 2)
		f.jobsRoot = int64(tx.Bucket(queueBucketName("q")).Bucket(bucketJobs).Root())
		info, err := tx.Page(int(f.jobsRoot))
		if err != nil || info.Type != "branch" || info.Count < 2 {
			return fmt.Errorf("jobs root page %d: %+v, %v; want a branch page", f.jobsRoot, info, err)
		}
		for i := range int64(info.Count) {
			f.jobsLeaves = append(f.jobsLeaves, int64(native.Uint64(raw[f.elementAt(f.jobsRoot, i)+8:])))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// elementAt is the offset in the file of element i of page id.
func (f fileFacts) elementAt(id, i int64) int64 {
	return id*f.pageSize + pageHeaderSize + elementSize*i
}

// keyAt is the offset in the file of the last byte of the key of element
// i of branch page id.
func (f fileFacts) keyAt(raw []byte, id, i int64) int64 {
	e := f.elementAt(id, i)
	return e + int64(native.Uint32(raw[e:])) + int64(native.Uint32(raw[e+4:])) - 1
}

// garbage returns n bytes that are the same on every run.
func garbage(n int64, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// overwrite returns raw with b written at offset off.
func overwrite(raw []byte, off int64, b []byte) []byte {
	out := bytes.Clone(raw)
	copy(out[off:], b)
	return out
}

// openReport is what a helper process that opened a file tells.
type openReport struct {
	Err                                             string
	Corrupt, Invalid, NotExist, Unavailable, Locked bool
	Warned                                          bool // a log line at warning level
	Jobs                                            int  // jobs in queue q, when it opened
	Last                                            bool // job "last" is there
}

// helperReport opens the file named by the last argument ("nocreate"
// before it sets Options.NoCreate), reads queue q if it opened, and
// prints an openReport.
func helperReport() {
	args := os.Args[len(os.Args)-2:]
	var logs bytes.Buffer
	b, err := Open(args[1], &Options{
		NoCreate:    args[0] == "nocreate",
		LockTimeout: time.Second,
		Logger:      slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	var r openReport
	if err == nil {
		var c backend.Counts
		if c, err = b.Counts(ctx, "q"); err == nil {
			for _, s := range backend.States {
				r.Jobs += c.Of(s)
			}
			_, jerr := b.Job(ctx, "q", "last")
			r.Last = jerr == nil
		}
		b.Close()
	}
	if err != nil {
		r.Err = err.Error()
		r.Corrupt = errors.Is(err, backend.ErrCorrupt)
		r.Invalid = errors.Is(err, backend.ErrInvalid)
		r.NotExist = errors.Is(err, fs.ErrNotExist)
		r.Unavailable = errors.Is(err, backend.ErrUnavailable)
		r.Locked = errors.Is(err, backend.ErrLocked)
	}
	r.Warned = logs.Len() > 0
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		panic(err)
	}
}

// snapshot returns every file and directory under dir with its contents.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := make(map[string]string)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			files[p] = "(directory)"
			return nil
		}
		b, err := os.ReadFile(p)
		files[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// A damaged file, or a path that cannot hold a store, gets a typed error
// from Open and is left as it was. Each case opens in a helper process, so
// that a panic in any goroutine (or a memory fault) fails its case rather
// than the whole test binary.
func TestOpenDamagedFile(t *testing.T) {
	base := storeFile(t, 300)
	raw, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	f := factsOf(t, base, raw)
	const jobs = 301
	mid := f.jobsLeaves[len(f.jobsLeaves)/2]

	damaged := func(t *testing.T, dir string) string { return filepath.Join(dir, "drover.db") }
	corrupt := func(t *testing.T, r openReport) {
		if !r.Corrupt || r.Unavailable || r.Invalid {
			t.Errorf("error %q: want one matching only ErrCorrupt", r.Err)
		}
		if !strings.Contains(r.Err, "restore the file from a backup") {
			t.Errorf("error %q does not say what to do", r.Err)
		}
	}
	invalidPath := func(notExist bool) func(*testing.T, openReport) {
		return func(t *testing.T, r openReport) {
			if !r.Invalid || r.Corrupt || r.Unavailable || r.NotExist != notExist {
				t.Errorf("error %q (%+v): want ErrInvalid, and fs.ErrNotExist %v", r.Err, r, notExist)
			}
			if !strings.Contains(r.Err, "path: ") {
				t.Errorf("error %q does not name the path", r.Err)
			}
		}
	}
	opened := func(jobs int, last bool) func(*testing.T, openReport) {
		return func(t *testing.T, r openReport) {
			if r.Err != "" || r.Jobs != jobs || r.Last != last || !r.Warned {
				t.Errorf("got %+v; want it opened with %d jobs, job last there %v, and a warning", r, jobs, last)
			}
		}
	}
	cases := []struct {
		name     string
		file     []byte // the content of drover.db; nil for none
		path     func(t *testing.T, dir string) string
		noCreate bool
		want     func(*testing.T, openReport)
	}{
		{"truncated to half its pages", raw[:f.pages*f.pageSize/2], damaged, false, corrupt},
		{"truncated to one page", raw[:f.pageSize], damaged, false, corrupt},
		{"a leaf page overwritten", overwrite(raw, mid*f.pageSize, garbage(f.pageSize, 1)), damaged, false, corrupt},
		{"a branch page overwritten", overwrite(raw, f.jobsRoot*f.pageSize, garbage(f.pageSize, 2)), damaged, false, corrupt},
		{"a page named twice", overwrite(raw, f.elementAt(f.jobsRoot, 1)+8, native.AppendUint64(nil, uint64(f.jobsLeaves[0]))), damaged, false, corrupt},
		{"a page named past the end", overwrite(raw, f.elementAt(f.jobsRoot, 1)+8, native.AppendUint64(nil, uint64(f.pages+3))), damaged, false, corrupt},
		{"a key running off its page", overwrite(raw, f.elementAt(mid, 0)+8, native.AppendUint32(nil, uint32(f.pageSize))), damaged, false, corrupt},
		{"a key grown over the next one", overwrite(raw, f.elementAt(mid, 1)+8, native.AppendUint32(nil, native.Uint32(raw[f.elementAt(mid, 1)+8:])+20)), damaged, false, corrupt},
		{"a branch key that is not its child's first", overwrite(raw, f.keyAt(raw, f.jobsRoot, 1), []byte{raw[f.keyAt(raw, f.jobsRoot, 1)] - 1}), damaged, false, corrupt},
		{"both meta pages overwritten", overwrite(raw, 0, garbage(2*f.pageSize, 3)), damaged, false, corrupt},
		{"garbage", garbage(16*f.pageSize, 4), damaged, false, corrupt},
		{"zero bytes", []byte{}, damaged, false, corrupt},
		{"the newer meta page overwritten", overwrite(raw, f.newerMeta*f.pageSize, garbage(f.pageSize, 5)), damaged, false, opened(jobs-1, false)},
		{"the older meta page overwritten", overwrite(raw, (1-f.newerMeta)*f.pageSize, garbage(f.pageSize, 6)), damaged, false, opened(jobs, true)},
		{"a directory", nil, func(t *testing.T, dir string) string { return dir }, false, invalidPath(false)},
		{"a file in a missing directory", nil, func(t *testing.T, dir string) string { return filepath.Join(dir, "missing", "drover.db") }, false, invalidPath(true)},
		{"no file, with NoCreate", nil, damaged, true, invalidPath(true)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if c.file != nil {
				if err := os.WriteFile(filepath.Join(dir, "drover.db"), c.file, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshot(t, dir)
			mode := "create"
			if c.noCreate {
				mode = "nocreate"
			}
			var stderr bytes.Buffer
			cmd := helper(t, "report", mode, c.path(t, dir))
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("helper process: %v\n%s", err, stderr.String())
			}
			var r openReport
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("helper said %q: %v", out, err)
			}
			c.want(t, r)
			after := snapshot(t, dir)
			if len(after) != len(before) {
				t.Errorf("files before %d, after %d", len(before), len(after))
			}
			for p, b := range before {
				if after[p] != b {
					t.Errorf("%s changed", p)
				}
			}
		})
	}
}

// FuzzOpen writes the input as a store file and opens it: Open returns a
// store that works or an error matching ErrCorrupt, and never panics. The
// seeds are a store file and the damaged forms of it that
// TestOpenDamagedFile opens.
func FuzzOpen(f *testing.F) {
	raw, err := os.ReadFile(storeFile(f, 40))
	if err != nil {
		f.Fatal(err)
	}
	page := int64(os.Getpagesize())
	pages := int64(len(raw)) / page
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	f.Add(raw[:page])
	f.Add(overwrite(raw, 0, garbage(page, 1)))
	f.Add(overwrite(raw, page, garbage(page, 2)))
	f.Add(overwrite(raw, 0, garbage(2*page, 3)))
	for id := int64(2); id < pages; id++ {
		f.Add(overwrite(raw, id*page, garbage(page, uint64(id))))
	}
	f.Add(garbage(4*page, 4))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "drover.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := Open(path, &Options{Clock: newClock(), NoSync: true, LockTimeout: time.Second})
		if err != nil {
			if !errors.Is(err, backend.ErrCorrupt) {
				t.Fatalf("error %v: want one matching ErrCorrupt", err)
			}
			return
		}
		defer b.Close()
		// Read and write the way a worker does; any error is fine.
		_, _ = b.Counts(ctx, "q")
		_, _ = b.Jobs(ctx, "q", &backend.JobsRequest{State: backend.StateWaiting, Limit: 10})
		_, _ = b.Events(ctx, "q", &backend.EventsRequest{Max: 10})
		_, _ = b.Add(ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "fuzz"}}})
		if res, err := b.Lease(ctx, "q", &backend.LeaseRequest{Worker: "w", Max: 2, TTL: time.Minute}); err == nil {
			for _, j := range res.Jobs {
				_, _ = b.Settle(ctx, "q", &backend.SettleRequest{Settlements: []backend.Settlement{{Lease: j.Lease, Outcome: backend.OutcomeComplete}}})
			}
		}
	})
}

// A record that does not decode fails the call that reads it with
// ErrCorrupt, and a write that needed it is not applied.
func TestUndecodableRecordIsErrCorrupt(t *testing.T) {
	b, _ := setup(t)
	add(t, b, "q", backend.NewJob{Name: "a"}, backend.NewJob{Name: "b"})
	var record []byte
	put := func(v []byte) {
		t.Helper()
		err := b.db.Update(func(tx *bbolt.Tx) error {
			jobs := readQueue(tx, "q").jobs
			if record == nil {
				record = bytes.Clone(jobs.Get(jobKey("1", nil)))
			}
			return jobs.Put(jobKey("1", nil), v)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put([]byte{codecVersion, 0xff})
	if _, err := b.Job(ctx, "q", "1"); !errors.Is(err, backend.ErrCorrupt) || errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Job: %v; want ErrCorrupt", err)
	}
	_, err := b.Lease(ctx, "q", &backend.LeaseRequest{Worker: "w", Max: 2, TTL: time.Minute})
	if !errors.Is(err, backend.ErrCorrupt) {
		t.Fatalf("Lease: %v; want ErrCorrupt", err)
	}
	if c := counts(t, b, "q"); c.Waiting != 2 || c.Active != 0 {
		t.Fatalf("counts after a failed lease: %+v", c)
	}
	put(record) // for the invariant check at the end
}
