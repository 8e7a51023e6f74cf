// Package shortdir gives tests a temporary directory with a short path,
// for Unix sockets, whose paths are limited to about a hundred bytes (a
// test's own t.TempDir() is often longer).
package shortdir

import (
	"os"
	"testing"
)

// New returns a new directory under the system's temporary directory,
// removed when the test ends.
func New(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
