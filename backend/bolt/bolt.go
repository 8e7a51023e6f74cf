package bolt

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/droverhq/drover/backend"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var _ backend.Full = (*Backend)(nil)

// Options configure a store. The zero value is ready to use.
type Options struct {
	// Clock gives every time stamp and timed wait. Defaults to the system
	// clock.
	Clock backend.Clock
	// EventRetention bounds each queue's event log; events are trimmed as
	// new ones are appended. Defaults to keeping the last 100,000 events
	// (backend.DefaultEventCount) when the zero value is given.
	EventRetention backend.EventRetention
	// LockTimeout is how long Open waits for another process to release the
	// file before it fails with backend.ErrLocked. Defaults to 1s.
	LockTimeout time.Duration
	// Logger receives reports of storage trouble. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// MaxPayload limits job data, results, progress and log lines, in
	// bytes. Defaults to backend.DefaultMaxPayload.
	MaxPayload int
	// NoCreate makes Open fail when there is no file at the path, with an
	// error that matches backend.ErrInvalid and fs.ErrNotExist, instead of
	// creating an empty store; tools that inspect a store set it. Defaults
	// to false (a missing file is created).
	NoCreate bool
	// NoSync skips the fsync of each commit: faster, but a crash of the
	// machine may lose writes that were acknowledged. Defaults to false
	// (every write is durable before the call returns).
	NoSync bool
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Clock == nil {
		c.Clock = backend.SystemClock()
	}
	c.EventRetention = c.EventRetention.OrDefault()
	c.LockTimeout = cmp.Or(c.LockTimeout, time.Second)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	c.MaxPayload = cmp.Or(c.MaxPayload, backend.DefaultMaxPayload)
	return c
}

func (o *Options) validate() error {
	switch {
	case o.LockTimeout < 0:
		return backend.Invalid("LockTimeout", "lock timeout is negative")
	case o.MaxPayload < 0:
		return backend.Invalid("MaxPayload", "payload limit is negative")
	case o.EventRetention.Validate() != nil:
		return o.EventRetention.Validate()
	}
	return nil
}

// Backend is a store kept in one bbolt file. All methods are safe for
// concurrent use.
type Backend struct {
	db    *bbolt.DB
	ownDB bool // Close closes db (Open), or leaves it to the application (OpenDB)
	opts  Options
	// tokenPrefix makes lease tokens unique across processes that open the
	// file one after the other; tokenSeq makes them unique within one.
	tokenPrefix string
	tokenSeq    atomic.Uint64

	// Group commit: pending requests, guarded by mu and signalled by cond.
	mu      sync.Mutex
	cond    *sync.Cond
	pending []*request
	closed  bool
	// gather is the batch size the committer waits for while it gathers
	// (0 when it does not); update signals gathered when it is reached.
	gather   int
	gathered chan struct{}
	done     chan struct{} // closed by Close
	stopped  chan struct{} // closed when the committer has returned
	commits  atomic.Uint64 // committed write transactions
	txSeq    uint64        // transactions begun; only the committer uses it
	// Memory reused by the committer\'s transactions (commit.go).
	spare   [][]byte
	scratch []byte
	evBuf   []byte

	// updating is the transaction of the Update in progress, if any.
	updating atomic.Pointer[txn]

	// Blocked Lease calls per queue (wake.go).
	wmu     sync.Mutex
	waiters map[string][]*waiter

	// Blocked Events calls per queue: a channel closed on the next commit
	// that appends an event to the queue.
	emu      sync.Mutex
	evNotify map[string]chan struct{}

	closeOnce sync.Once
	closeErr  error

	// testHookHandedOff, when set by a test, runs in the committer at the
	// end of each hand-off, after its claims and before the commit.
	testHookHandedOff func()
}

// Open opens the store file at path, or creates it (mode 0600) when there
// is none and opts.NoCreate is not set.
//
// Open checks an existing file before bbolt reads it (see open.go), so a
// damaged file gets an error matching backend.ErrCorrupt, never a panic,
// and is left as it was. A path that cannot hold a store (a directory, a
// file in a directory that does not exist, or no file with NoCreate) gets
// a *backend.ValidationError for "path", which matches backend.ErrInvalid,
// and fs.ErrNotExist when something is missing. If another process holds
// the file, Open fails with an error wrapping backend.ErrLocked after
// opts.LockTimeout.
func Open(path string, opts *Options) (*Backend, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	db, err := openDB(path, &o)
	if errors.Is(err, backend.ErrCorrupt) {
		return nil, fmt.Errorf("drover: open %s: %w; restore the file from a backup, or move it aside to start an empty store", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("drover: open %s: %w", path, err)
	}
	b, err := start(db, &o, true)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("drover: open %s: %w", path, err)
	}
	return b, nil
}

// OpenDB opens the store in db, a database the application has opened
// and keeps using for its own buckets, so that it can add jobs in its
// own transactions (see InTx). drover's buckets are the top-level buckets
// whose names begin with "q:"; the application must not read or write
// them but through the store. Close stops the store and leaves db open:
// the application closes it, after the store.
//
// db must be writable. opts.LockTimeout, NoCreate and NoSync are the
// application's to set when it opens db, and are ignored here. A bucket
// of drover's in another record format gets an error matching
// backend.ErrUnsupported.
func OpenDB(db *bbolt.DB, opts *Options) (*Backend, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	switch {
	case db == nil:
		return nil, backend.Invalid("DB", "database is nil")
	case db.IsReadOnly():
		return nil, backend.Invalid("DB", "database is opened read-only")
	}
	b, err := start(db, &o, false)
	if err != nil {
		return nil, fmt.Errorf("drover: open %s: %w", db.Path(), err)
	}
	return b, nil
}

// start checks the format of drover's buckets in db and starts the
// committer; own says whether Close closes db.
func start(db *bbolt.DB, o *Options, own bool) (*Backend, error) {
	if err := db.View(checkFormat); err != nil {
		return nil, translate(err)
	}
	var p [4]byte
	_, _ = rand.Read(p[:])
	b := &Backend{
		db:          db,
		ownDB:       own,
		opts:        *o,
		tokenPrefix: hex.EncodeToString(p[:]) + ".",
		done:        make(chan struct{}),
		stopped:     make(chan struct{}),
		gathered:    make(chan struct{}, 1),
		waiters:     make(map[string][]*waiter),
		evNotify:    make(map[string]chan struct{}),
	}
	b.cond = sync.NewCond(&b.mu)
	go b.commitLoop()
	return b, nil
}

// Close stops the committer after it has applied every request queued,
// ends blocked Lease and Events calls with backend.ErrClosed, and closes
// the file (a database given to OpenDB stays open). Calls after Close fail with backend.ErrClosed; a second Close
// returns nil.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		close(b.done)
		b.cond.Broadcast()
		select {
		case b.gathered <- struct{}{}:
		default:
		}
		b.mu.Unlock()
		<-b.stopped
		if !b.ownDB {
			return
		}
		if err := b.db.Close(); err != nil {
			b.closeErr = translate(err)
		}
	})
	return b.closeErr
}

// errClosed is returned by every call after Close.
var errClosed = fmt.Errorf("%w: store is closed", backend.ErrClosed)

func (b *Backend) isClosed() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// view runs a read transaction.
func (b *Backend) view(fn func(tx *bbolt.Tx) error) error {
	if b.isClosed() {
		return errClosed
	}
	return translate(b.db.View(fn))
}

// translate maps bbolt's errors to drover's sentinels, keeping the cause.
// It is the one place where storage errors are interpreted.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case backend.IsSentinel(err):
		return err
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w: %w", backend.ErrLocked, err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return fmt.Errorf("%w: %w", backend.ErrCorrupt, err)
	case errors.Is(err, berrors.ErrDatabaseNotOpen), errors.Is(err, berrors.ErrTxClosed):
		return fmt.Errorf("%w: %w", backend.ErrClosed, err)
	case errors.Is(err, berrors.ErrKeyTooLarge), errors.Is(err, berrors.ErrValueTooLarge):
		return fmt.Errorf("%w: %w", backend.ErrTooLarge, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %w (check the file's owner and mode)", backend.ErrDenied, err)
	}
	return fmt.Errorf("%w: %w", backend.ErrUnavailable, err)
}

func notFound(what string, args ...any) error {
	return fmt.Errorf("%w: %s", backend.ErrNotFound, fmt.Sprintf(what, args...))
}
