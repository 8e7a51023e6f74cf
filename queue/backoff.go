package queue

import (
	"math/rand/v2"
	"time"

	"github.com/droverhq/drover/backend"
)

// BackoffDelay returns the delay that b gives before retrying after failed
// attempt number attempt (1 for the first):
//
//   - none: 0, the job is waiting again at once;
//   - fixed: b.Delay;
//   - exponential: b.Delay * 2^(attempt-1).
//
// A Jitter j between 0 and 1 then draws the delay at random from
// [d*(1-j), d]. The result never exceeds backend.MaxDelay.
func BackoffDelay(b Backoff, attempt int) time.Duration {
	return backoffDelay(b, attempt, rand.Float64)
}

// backoffDelay is BackoffDelay with the random source given, for tests;
// rnd returns a value in [0, 1).
func backoffDelay(b Backoff, attempt int, rnd func() float64) time.Duration {
	var d time.Duration
	switch b.Type {
	case backend.BackoffFixed:
		d = b.Delay
	case backend.BackoffExponential:
		d = b.Delay
		for i := 1; i < attempt && d > 0 && d < backend.MaxDelay; i++ {
			d *= 2
		}
	default:
		return 0
	}
	d = capDelay(d)
	if j := min(max(b.Jitter, 0), 1); j > 0 && d > 0 {
		spread := float64(d) * j
		d = time.Duration(float64(d) - spread + rnd()*spread)
	}
	return capDelay(d)
}

func capDelay(d time.Duration) time.Duration {
	return min(max(d, 0), backend.MaxDelay)
}

// defaultErrorBackoff waits 100ms, 200ms, 400ms, … up to 5s before the nth
// retry of a failed store call, each wait drawn from its upper fifth at
// random so that many workers do not retry in step.
func defaultErrorBackoff(n int) time.Duration {
	return errorBackoff(n, rand.Float64)
}

func errorBackoff(n int, rnd func() float64) time.Duration {
	const first, most = 100 * time.Millisecond, 5 * time.Second
	d := first
	for i := 1; i < n && d < most; i++ {
		d *= 2
	}
	d = min(d, most)
	return d - time.Duration(rnd()*float64(d)/5)
}
