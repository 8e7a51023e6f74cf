// Package exampletb gives runnable examples a stand-in for the *testing.T
// that drovertest's helpers take, since an Example function has none. In a
// test, pass the test's *testing.T instead.
package exampletb

import (
	"context"
	"log"
	"os"
	"slices"
)

// T is a stand-in for a *testing.T. Its failures end the program, as
// log.Fatal does; Finish runs its cleanups.
type T struct {
	ctx      context.Context
	cancel   context.CancelFunc
	dir      string
	cleanups []func()
}

// New returns a T; defer its Finish.
func New() *T {
	ctx, cancel := context.WithCancel(context.Background())
	return &T{ctx: ctx, cancel: cancel}
}

// Finish cancels the context and runs the cleanups, last registered first,
// as a test's end does.
func (t *T) Finish() {
	t.cancel()
	for _, f := range slices.Backward(t.cleanups) {
		f()
	}
	t.cleanups = nil
}

// Cleanup registers f to run at Finish.
func (t *T) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

// Context returns a context that Finish cancels.
func (t *T) Context() context.Context { return t.ctx }

// Errorf logs a failure.
func (t *T) Errorf(format string, args ...any) { log.Printf(format, args...) }

// Fatalf logs a failure and ends the program.
func (t *T) Fatalf(format string, args ...any) { log.Fatalf(format, args...) }

// Helper does nothing.
func (t *T) Helper() {}

// TempDir returns a directory that Finish removes.
func (t *T) TempDir() string {
	if t.dir == "" {
		dir, err := os.MkdirTemp("", "drover-example-")
		if err != nil {
			log.Fatal(err)
		}
		t.dir = dir
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	return t.dir
}
