package backend

import (
	"context"
	"fmt"
	"time"
	"unicode"
)

// DedupMode says how long a deduplication key holds, and what a later add
// with the key does while it holds.
type DedupMode string

// Deduplication modes. While a key holds, an add with it makes no new job:
// it reports the job that holds the key, as a duplicate.
const (
	// DedupUntilFinished holds the key while its job is unfinished: until
	// the job completes, fails or is removed. With a TTL it also lets go
	// of the key TTL after the add that took it, whichever comes first.
	DedupUntilFinished DedupMode = ""
	// DedupThrottle holds the key for TTL after the add that took it,
	// whatever becomes of its job meanwhile: at most one job a TTL.
	DedupThrottle DedupMode = "throttle"
	// DedupDebounce holds the key as DedupUntilFinished does; in addition
	// an add with the key while its job is still waiting or delayed
	// replaces the job's data and starts its delay again (the later add's
	// Delay or RunAt, from now), so a burst of adds runs once, late, with
	// the last data. With KeepLastIfActive, an add while the job is active
	// is kept, to run as a new job once the active one finishes.
	DedupDebounce DedupMode = "debounce"
)

// Valid reports whether m is a known mode.
func (m DedupMode) Valid() bool {
	switch m {
	case DedupUntilFinished, DedupThrottle, DedupDebounce:
		return true
	}
	return false
}

// MaxDedupKeyLen is the longest deduplication key, in bytes.
const MaxDedupKeyLen = 512

// Dedup asks an add to make no new job while another job holds Key. The
// zero value (no Key) deduplicates nothing. The options of the add that
// took the key (Mode, TTL, KeepLastIfActive) say how long it holds and
// what later adds with it do, whatever options those carry.
type Dedup struct {
	// Key names what must not be done twice at once, within the queue:
	// not empty when deduplicating, at most MaxDedupKeyLen bytes, no
	// control characters.
	Key string
	// Mode says how long the key holds; see DedupMode.
	Mode DedupMode
	// TTL bounds how long the key holds, from the add that took it;
	// DedupThrottle needs it. Zero means no time limit.
	TTL time.Duration
	// KeepLastIfActive, in DedupDebounce mode, keeps an add that arrives
	// while the key's job is active, and adds it as a new job (holding the
	// key, with the kept add's options) when the active job finishes; its
	// delay counts from then. Of several such adds the last one wins. The
	// kept add is dropped if the job is removed instead, if the key's TTL
	// ran out first, or if its caller-chosen ID was taken meanwhile.
	KeepLastIfActive bool
}

// DedupOutcome says what a deduplication key did to one add.
type DedupOutcome string

// Outcomes of an add with a deduplication key that held. An add that made
// a new job has the zero outcome.
const (
	// DedupIgnored: the add changed nothing.
	DedupIgnored DedupOutcome = "ignored"
	// DedupReplaced: the add replaced the data of the key's waiting or
	// delayed job, and restarted its delay (debounce).
	DedupReplaced DedupOutcome = "replaced"
	// DedupDeferred: the key's job is active; the add is kept, to run as a
	// new job when that one finishes (debounce, KeepLastIfActive).
	DedupDeferred DedupOutcome = "deferred"
)

// DedupHolder is a deduplication key as a store keeps it.
type DedupHolder struct {
	Key string
	// JobID is the job that holds the key.
	JobID string
	Mode  DedupMode
	// ExpiresAt is when the key lets go at the latest; zero for never.
	ExpiresAt time.Time
	// Deferred is set when an add is kept to run after JobID finishes
	// (debounce, KeepLastIfActive).
	Deferred bool
}

// Deduplicator is the store's side of deduplication keys, beyond the
// adds that take and honour them.
type Deduplicator interface {
	// DedupHolder reports who holds key, or ErrNotFound when no job does
	// (it was never taken, its job finished, its TTL passed, or it was
	// released).
	DedupHolder(ctx context.Context, queue, key string) (DedupHolder, error)
	// ReleaseDedup lets go of key at once, with no change to its job: the
	// next add with it makes a new job. An add it kept to run later
	// (KeepLastIfActive) is dropped. It reports whether the key was held.
	ReleaseDedup(ctx context.Context, queue, key string) (bool, error)
}

// ValidateDedupKey checks a deduplication key by itself.
func ValidateDedupKey(key string) error {
	if err := validateDedupKey(key); err != nil {
		err.Index = -1
		return err
	}
	return nil
}

func validateDedupKey(key string) *ValidationError {
	switch {
	case key == "":
		return &ValidationError{Field: "Dedup", Reason: "deduplication key is empty"}
	case len(key) > MaxDedupKeyLen:
		return &ValidationError{Field: "Dedup", Reason: fmt.Sprintf("deduplication key is longer than %d bytes", MaxDedupKeyLen)}
	}
	for _, r := range key {
		if unicode.IsControl(r) {
			return &ValidationError{Field: "Dedup", Reason: "deduplication key contains a control character"}
		}
	}
	return nil
}

// validate checks d as the options of a top-level job. The zero value is
// valid; options without a key are not.
func (d *Dedup) validate() *ValidationError {
	if *d == (Dedup{}) {
		return nil
	}
	if err := validateDedupKey(d.Key); err != nil {
		return err
	}
	bad := func(reason string) *ValidationError { return &ValidationError{Field: "Dedup", Reason: reason} }
	switch {
	case !d.Mode.Valid():
		return bad(fmt.Sprintf("unknown deduplication mode %q", d.Mode))
	case d.TTL < 0 || d.TTL > MaxDelay:
		return bad("deduplication TTL is negative or longer than 100 years")
	case d.Mode == DedupThrottle && d.TTL == 0:
		return bad("throttle mode needs a TTL")
	case d.KeepLastIfActive && d.Mode != DedupDebounce:
		return bad("KeepLastIfActive is for debounce mode")
	}
	return nil
}
