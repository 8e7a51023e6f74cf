package queue

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/droverhq/drover/backend"
)

// Repeat says when a job scheduler runs. Exactly one of Every and Pattern
// is set.
type Repeat struct {
	// Every runs the job at a fixed interval, at least a millisecond.
	// The first run is one interval after the scheduler is created (or at
	// StartDate); later runs keep that phase, also across upserts that do
	// not change the rule.
	Every time.Duration
	// Pattern is a cron expression: five fields (minute hour day-of-month
	// month day-of-week), or six with a leading seconds field, or a
	// descriptor such as "@daily". Fire times are wall-clock times in TZ:
	// on a day when a fixed time does not exist (clocks go forward), the
	// job runs once, shifted forward by the gap (02:30 becomes 03:30); on a
	// day when it occurs twice (clocks go back), it runs once, at the first
	// occurrence. A pattern whose hour field is "*" fires by real time
	// instead, so an hourly job runs every real hour across both changes.
	Pattern string
	// TZ is the IANA time zone of Pattern, such as "Europe/Paris".
	// Defaults to UTC.
	TZ string
	// StartDate delays the first run to this time or later. Defaults to
	// none.
	StartDate time.Time
	// EndDate ends the scheduler: no run is planned after it. Defaults to
	// none.
	EndDate time.Time
	// Limit caps the number of iterations. Defaults to 0, no cap.
	Limit int
	// Immediately makes the first run happen at once (or at StartDate),
	// instead of one interval or fire time later.
	Immediately bool
}

// repeatRecord is Repeat as kept, opaque to the store, in
// backend.Scheduler.Repeat.
type repeatRecord struct {
	Every       time.Duration `json:"every,omitempty"`
	Pattern     string        `json:"pattern,omitempty"`
	TZ          string        `json:"tz,omitempty"`
	StartDate   time.Time     `json:"startDate,omitzero"`
	EndDate     time.Time     `json:"endDate,omitzero"`
	Limit       int           `json:"limit,omitempty"`
	Immediately bool          `json:"immediately,omitempty"`
	// Planned is the last run time planned so far, so that a plan can be
	// continued on cadence even after every planned time was used.
	Planned time.Time `json:"planned,omitzero"`
	// Count is the number of run times planned so far that were used or
	// are still planned; it enforces Limit.
	Count int `json:"count,omitempty"`
}

// planState is what the queue package keeps about a scheduler's plan.
type planState struct {
	planned time.Time
	count   int
}

func encodeRepeat(r Repeat, st planState) []byte {
	b, err := json.Marshal(repeatRecord{
		Every: r.Every, Pattern: r.Pattern, TZ: r.TZ,
		StartDate: r.StartDate, EndDate: r.EndDate, Limit: r.Limit,
		Immediately: r.Immediately, Planned: st.planned, Count: st.count,
	})
	if err != nil {
		panic(fmt.Sprintf("drover: encode repeat: %v", err)) // plain fields cannot fail
	}
	return b
}

func decodeRepeat(b []byte) (Repeat, planState, error) {
	var rr repeatRecord
	if err := json.Unmarshal(b, &rr); err != nil {
		return Repeat{}, planState{}, fmt.Errorf("drover: decode repeat rule: %w", err)
	}
	r := Repeat{
		Every: rr.Every, Pattern: rr.Pattern, TZ: rr.TZ,
		StartDate: rr.StartDate, EndDate: rr.EndDate, Limit: rr.Limit,
		Immediately: rr.Immediately,
	}
	return r, planState{planned: rr.Planned, count: rr.Count}, nil
}

// sameCadence reports whether a and b fire at the same times, so that an
// upsert from one to the other keeps the pending run.
func sameCadence(a, b Repeat) bool {
	return a.Every == b.Every && a.Pattern == b.Pattern && a.TZ == b.TZ &&
		a.StartDate.Equal(b.StartDate)
}

var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour |
	cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// planner computes run times for one Repeat.
type planner struct {
	r   Repeat
	loc *time.Location
	// sched is set for a Pattern.
	sched cron.Schedule
	// wall is set when the pattern fires by wall-clock time (its hour
	// field is not "*").
	wall bool
}

// newPlanner validates r and returns its planner. Errors are
// *ValidationError.
func newPlanner(r Repeat) (*planner, error) {
	p := &planner{r: r, loc: time.UTC}
	switch {
	case r.Every != 0 && r.Pattern != "":
		return nil, backend.Invalid("Repeat", "both Every and Pattern are set")
	case r.Every == 0 && r.Pattern == "":
		return nil, backend.Invalid("Repeat", "neither Every nor Pattern is set")
	case r.Limit < 0:
		return nil, backend.Invalid("Repeat.Limit", "limit is negative")
	case !r.StartDate.IsZero() && !r.EndDate.IsZero() && r.EndDate.Before(r.StartDate):
		return nil, backend.Invalid("Repeat.EndDate", "end date is before start date")
	}
	if r.Every != 0 {
		if err := validateEvery("Repeat.Every", r.Every); err != nil {
			return nil, err
		}
	}
	if r.TZ != "" {
		if r.Pattern == "" {
			return nil, backend.Invalid("Repeat.TZ", "a time zone applies only to a Pattern")
		}
		loc, err := time.LoadLocation(r.TZ)
		if err != nil || strings.EqualFold(r.TZ, "local") {
			return nil, backend.Invalid("Repeat.TZ", fmt.Sprintf("unknown time zone %q", r.TZ))
		}
		p.loc = loc
	}
	if r.Pattern != "" {
		pat := strings.TrimSpace(r.Pattern)
		if strings.HasPrefix(pat, "TZ=") || strings.HasPrefix(pat, "CRON_TZ=") {
			return nil, backend.Invalid("Repeat.Pattern", "set the time zone in Repeat.TZ, not in the pattern")
		}
		if d, ok := strings.CutPrefix(pat, "@every "); ok {
			// Planned exactly as Every: cron's own @every would round
			// what Every rejects, and anything under a second, up to a
			// second.
			every, err := time.ParseDuration(strings.TrimSpace(d))
			if err != nil {
				return nil, backend.Invalid("Repeat.Pattern", fmt.Sprintf("invalid cron pattern %q: %v", r.Pattern, err))
			}
			if err := validateEvery("Repeat.Pattern", every); err != nil {
				return nil, err
			}
			p.r.Every = every
			return p, nil
		}
		s, err := cronParser.Parse(pat)
		if err != nil {
			return nil, backend.Invalid("Repeat.Pattern", fmt.Sprintf("invalid cron pattern %q: %v", r.Pattern, err))
		}
		if spec, ok := s.(*cron.SpecSchedule); ok {
			spec.Location = time.UTC // times are handed in already converted
			const allHours = 1<<24 - 1
			p.wall = spec.Hour&allHours != allHours
		}
		p.sched = s
	}
	return p, nil
}

// validateEvery checks a repeat interval, given as Every or as a pattern
// "@every <duration>": at least a millisecond, at most MaxDelay.
func validateEvery(field string, d time.Duration) error {
	switch {
	case d <= 0:
		return backend.Invalid(field, fmt.Sprintf("interval %v is not positive", d))
	case d < time.Millisecond:
		return backend.Invalid(field, fmt.Sprintf("interval %v is shorter than a millisecond", d))
	case d > backend.MaxDelay:
		return backend.Invalid(field, fmt.Sprintf("interval %v is longer than 100 years", d))
	}
	return nil
}

// after returns the first run time strictly after t, ignoring StartDate,
// EndDate and Limit; zero if the pattern never fires again.
func (p *planner) after(t time.Time) time.Time {
	if p.r.Every > 0 {
		return t.Add(p.r.Every)
	}
	if !p.wall {
		n := p.sched.Next(t.In(p.loc))
		if n.IsZero() {
			return n
		}
		return n.UTC()
	}
	// Iterate over wall-clock times, then map each to an instant; skip
	// those that map to or before t (a repeated hour seen twice).
	w := wallOf(t, p.loc)
	for range 1000 {
		w = p.sched.Next(w)
		if w.IsZero() {
			return w
		}
		if n := instantOf(w, p.loc); n.After(t) {
			return n
		}
	}
	return time.Time{}
}

// wallOf returns t's wall-clock reading in loc, as a UTC time.
func wallOf(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// instantOf returns the instant at which loc's clocks read w (a UTC time
// holding a wall-clock reading): its first occurrence if it occurs twice,
// and the reading shifted forward by the gap if it does not occur.
func instantOf(w time.Time, loc *time.Location) time.Time {
	_, offBefore := w.Add(-36 * time.Hour).In(loc).Zone()
	_, offAfter := w.Add(36 * time.Hour).In(loc).Zone()
	a := w.Add(-time.Duration(offBefore) * time.Second)
	b := w.Add(-time.Duration(offAfter) * time.Second)
	okA := wallOf(a, loc).Equal(w)
	okB := wallOf(b, loc).Equal(w)
	switch {
	case okA && okB:
		if b.Before(a) {
			return b.UTC()
		}
		return a.UTC()
	case okB:
		return b.UTC()
	default:
		// okA, or a time in a gap: read it with the offset in force before
		// the gap, which lands the same distance past the gap's end.
		return a.UTC()
	}
}

// first returns the first run time of a scheduler created or re-planned at
// now; zero if there is none before EndDate.
func (p *planner) first(now time.Time) time.Time {
	now = now.Truncate(time.Millisecond)
	var t time.Time
	switch start := p.r.StartDate.Truncate(time.Millisecond); {
	case !start.IsZero() && start.After(now):
		if p.r.Immediately || p.r.Every > 0 {
			t = start
		} else {
			t = p.after(start.Add(-time.Millisecond))
		}
	case p.r.Immediately:
		t = now
	default:
		t = p.after(now)
	}
	return p.bounded(t)
}

// next returns the run time following the planned time t that is not
// before now; zero if there is none before EndDate. Runs missed while
// nothing was planned are skipped, keeping the cadence.
func (p *planner) next(t, now time.Time) time.Time {
	now = now.Truncate(time.Millisecond)
	if p.r.Every > 0 {
		n := t.Add(p.r.Every)
		if n.Before(now) {
			k := now.Sub(n) / p.r.Every
			n = n.Add(k * p.r.Every)
			if n.Before(now) {
				n = n.Add(p.r.Every)
			}
		}
		return p.bounded(n)
	}
	if t.Before(now) {
		t = now.Add(-time.Millisecond)
	}
	return p.bounded(p.after(t))
}

func (p *planner) bounded(t time.Time) time.Time {
	if t.IsZero() || (!p.r.EndDate.IsZero() && t.After(p.r.EndDate)) {
		return time.Time{}
	}
	return t.UTC()
}

// plan extends a plan whose last time is last (zero: plan from scratch at
// now) by up to n run times, at most remaining of them when remaining >= 0.
// final reports that no run time follows the returned ones.
func (p *planner) plan(last, now time.Time, n, remaining int) (times []time.Time, final bool) {
	for len(times) < n {
		if remaining >= 0 && len(times) >= remaining {
			return times, true
		}
		var t time.Time
		if last.IsZero() {
			t = p.first(now)
		} else {
			t = p.next(last, now)
		}
		if t.IsZero() {
			return times, true
		}
		times = append(times, t)
		last = t
	}
	return times, remaining >= 0 && len(times) >= remaining
}
