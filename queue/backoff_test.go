package queue

import (
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

func fixedRand(v float64) func() float64 { return func() float64 { return v } }

func TestBackoffNoneRetriesAtOnce(t *testing.T) {
	for attempt := 1; attempt < 5; attempt++ {
		if d := BackoffDelay(Backoff{}, attempt); d != 0 {
			t.Errorf("attempt %d: %s, want 0", attempt, d)
		}
	}
}

func TestBackoffFixedIsConstant(t *testing.T) {
	for attempt := 1; attempt < 5; attempt++ {
		if d := BackoffDelay(FixedBackoff(3*time.Second), attempt); d != 3*time.Second {
			t.Errorf("attempt %d: %s, want 3s", attempt, d)
		}
	}
}

func TestBackoffExponentialDoubles(t *testing.T) {
	b := ExponentialBackoff(time.Second, 0)
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 11: 1024 * time.Second} {
		if d := BackoffDelay(b, attempt); d != want {
			t.Errorf("attempt %d: %s, want %s", attempt, d, want)
		}
	}
}

func TestBackoffIsCappedAtMaxDelay(t *testing.T) {
	b := ExponentialBackoff(time.Hour, 0)
	for _, attempt := range []int{40, 64, 1000, backend.MaxAttempts} {
		if d := BackoffDelay(b, attempt); d != backend.MaxDelay {
			t.Errorf("attempt %d: %s, want MaxDelay", attempt, d)
		}
	}
	if d := backoffDelay(ExponentialBackoff(time.Hour, 0.5), 100, fixedRand(0.999)); d > backend.MaxDelay || d < backend.MaxDelay/2 {
		t.Errorf("capped delay with jitter: %s", d)
	}
}

func TestBackoffJitterStaysInBounds(t *testing.T) {
	b := ExponentialBackoff(time.Second, 0.25)
	// Attempt 3: 4s, drawn from [3s, 4s].
	if d := backoffDelay(b, 3, fixedRand(0)); d != 3*time.Second {
		t.Errorf("lowest draw: %s, want 3s", d)
	}
	if d := backoffDelay(b, 3, fixedRand(0.5)); d != 3500*time.Millisecond {
		t.Errorf("middle draw: %s, want 3.5s", d)
	}
	for range 1000 {
		if d := BackoffDelay(b, 3); d < 3*time.Second || d > 4*time.Second {
			t.Fatalf("random draw %s outside [3s, 4s]", d)
		}
	}
	full := FixedBackoff(time.Second)
	full.Jitter = 1
	for range 1000 {
		if d := BackoffDelay(full, 1); d < 0 || d > time.Second {
			t.Fatalf("full jitter draw %s outside [0, 1s]", d)
		}
	}
}

func TestErrorBackoffGrowsToFiveSeconds(t *testing.T) {
	var prev time.Duration
	for n := 1; n <= 10; n++ {
		d := errorBackoff(n, fixedRand(0))
		if d < prev || d > 5*time.Second {
			t.Errorf("retry %d: %s after %s", n, d, prev)
		}
		prev = d
	}
	if d := errorBackoff(1, fixedRand(0)); d != 100*time.Millisecond {
		t.Errorf("first retry waits %s, want 100ms", d)
	}
	if d := errorBackoff(100, fixedRand(0)); d != 5*time.Second {
		t.Errorf("late retry waits %s, want 5s", d)
	}
	if d := errorBackoff(1, fixedRand(0.999)); d < 80*time.Millisecond {
		t.Errorf("jittered first retry waits %s, want at least 80ms", d)
	}
}
