package queue

import (
	"errors"
	"testing"
	"time"
)

func mustPlanner(t *testing.T, r Repeat) *planner {
	t.Helper()
	p, err := newPlanner(r)
	if err != nil {
		t.Fatalf("newPlanner(%+v): %v", r, err)
	}
	return p
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s not available: %v", name, err)
	}
	return loc
}

func checkTimes(t *testing.T, got []time.Time, want ...time.Time) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d times %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("time %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestPlannerEveryStartsOneIntervalOnAndKeepsPhase(t *testing.T) {
	p := mustPlanner(t, Repeat{Every: 10 * time.Second})
	times, final := p.plan(time.Time{}, t0, 3, -1)
	checkTimes(t, times, t0.Add(10*time.Second), t0.Add(20*time.Second), t0.Add(30*time.Second))
	if final {
		t.Error("final without end date or limit")
	}
	// Continuing late skips the missed runs and stays on the phase.
	more, _ := p.plan(times[2], t0.Add(65*time.Second), 2, -1)
	checkTimes(t, more, t0.Add(70*time.Second), t0.Add(80*time.Second))
	// Continuing exactly on a run time keeps it.
	more, _ = p.plan(times[2], t0.Add(40*time.Second), 1, -1)
	checkTimes(t, more, t0.Add(40*time.Second))
}

func TestPlannerImmediatelyRunsAtOnce(t *testing.T) {
	p := mustPlanner(t, Repeat{Every: time.Minute, Immediately: true})
	times, _ := p.plan(time.Time{}, t0, 2, -1)
	checkTimes(t, times, t0, t0.Add(time.Minute))

	p = mustPlanner(t, Repeat{Pattern: "0 * * * *", Immediately: true})
	times, _ = p.plan(time.Time{}, t0, 2, -1)
	checkTimes(t, times, t0, time.Date(2030, 1, 2, 4, 0, 0, 0, time.UTC))
}

func TestPlannerStartDateDelaysTheFirstRun(t *testing.T) {
	start := t0.Add(time.Hour + 30*time.Second)
	p := mustPlanner(t, Repeat{Every: time.Minute, StartDate: start})
	times, _ := p.plan(time.Time{}, t0, 2, -1)
	checkTimes(t, times, start, start.Add(time.Minute))

	p = mustPlanner(t, Repeat{Pattern: "*/15 * * * *", StartDate: start})
	times, _ = p.plan(time.Time{}, t0, 2, -1)
	checkTimes(t, times, time.Date(2030, 1, 2, 4, 15, 0, 0, time.UTC), time.Date(2030, 1, 2, 4, 30, 0, 0, time.UTC))

	// A start date in the past does not matter.
	p = mustPlanner(t, Repeat{Every: time.Minute, StartDate: t0.Add(-time.Hour)})
	times, _ = p.plan(time.Time{}, t0, 1, -1)
	checkTimes(t, times, t0.Add(time.Minute))
}

func TestPlannerEndDateAndLimitFinishThePlan(t *testing.T) {
	p := mustPlanner(t, Repeat{Every: time.Minute, EndDate: t0.Add(3 * time.Minute)})
	times, final := p.plan(time.Time{}, t0, 10, -1)
	checkTimes(t, times, t0.Add(time.Minute), t0.Add(2*time.Minute), t0.Add(3*time.Minute))
	if !final {
		t.Error("plan up to the end date is not final")
	}

	p = mustPlanner(t, Repeat{Every: time.Minute, Limit: 2})
	times, final = p.plan(time.Time{}, t0, 10, 2)
	checkTimes(t, times, t0.Add(time.Minute), t0.Add(2*time.Minute))
	if !final {
		t.Error("plan up to the limit is not final")
	}
	times, final = p.plan(time.Time{}, t0, 2, 5)
	if len(times) != 2 || final {
		t.Errorf("got %v final=%v, want 2 times, not final", times, final)
	}
}

func TestPlannerSecondsField(t *testing.T) {
	p := mustPlanner(t, Repeat{Pattern: "*/20 * * * * *"})
	times, _ := p.plan(time.Time{}, t0, 3, -1)
	checkTimes(t, times,
		time.Date(2030, 1, 2, 3, 4, 20, 0, time.UTC),
		time.Date(2030, 1, 2, 3, 4, 40, 0, time.UTC),
		time.Date(2030, 1, 2, 3, 5, 0, 0, time.UTC))
}

func TestPlannerCronSpringForward(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	p := mustPlanner(t, Repeat{Pattern: "30 2 * * *", TZ: "America/New_York"})
	// 2025-03-09: clocks go from 02:00 EST to 03:00 EDT; 02:30 does not
	// exist and the run happens at 03:30 EDT, once.
	times, _ := p.plan(time.Time{}, time.Date(2025, 3, 7, 12, 0, 0, 0, ny), 4, -1)
	checkTimes(t, times,
		time.Date(2025, 3, 8, 2, 30, 0, 0, ny),
		time.Date(2025, 3, 9, 3, 30, 0, 0, ny),
		time.Date(2025, 3, 10, 2, 30, 0, 0, ny),
		time.Date(2025, 3, 11, 2, 30, 0, 0, ny))
	if got := times[1].In(ny); got.Hour() != 3 || got.Minute() != 30 {
		t.Errorf("run on the change day at %v, want 03:30 local", got)
	}
}

func TestPlannerCronFallBack(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	start := time.Date(2025, 11, 1, 23, 30, 0, 0, ny)
	// Hourly: every real hour, so 01:00 happens twice (EDT, then EST).
	p := mustPlanner(t, Repeat{Pattern: "0 * * * *", TZ: "America/New_York"})
	times, _ := p.plan(time.Time{}, start, 5, -1)
	utc := func(h int) time.Time { return time.Date(2025, 11, 2, h, 0, 0, 0, time.UTC) }
	checkTimes(t, times, utc(4), utc(5), utc(6), utc(7), utc(8)) // 00 EDT, 01 EDT, 01 EST, 02 EST, 03 EST
	for i := 1; i < len(times); i++ {
		if d := times[i].Sub(times[i-1]); d != time.Hour {
			t.Errorf("gap %d is %v, want 1h", i, d)
		}
	}
	// A fixed time in the repeated hour runs once, at its first occurrence.
	p = mustPlanner(t, Repeat{Pattern: "30 1 * * *", TZ: "America/New_York"})
	times, _ = p.plan(time.Time{}, time.Date(2025, 11, 1, 12, 0, 0, 0, ny), 3, -1)
	checkTimes(t, times,
		time.Date(2025, 11, 2, 5, 30, 0, 0, time.UTC), // 01:30 EDT
		time.Date(2025, 11, 3, 6, 30, 0, 0, time.UTC), // 01:30 EST
		time.Date(2025, 11, 4, 6, 30, 0, 0, time.UTC))
}

func TestRepeatValidation(t *testing.T) {
	cases := map[string]Repeat{
		"both":             {Every: time.Second, Pattern: "* * * * *"},
		"neither":          {},
		"negative every":   {Every: -time.Second},
		"tiny every":       {Every: time.Microsecond},
		"bad pattern":      {Pattern: "61 * * * *"},
		"garbage pattern":  {Pattern: "every day"},
		"end before start": {Every: time.Second, StartDate: t0, EndDate: t0.Add(-time.Second)},
		"unknown tz":       {Pattern: "* * * * *", TZ: "Mars/Olympus"},
		"tz in pattern":    {Pattern: "CRON_TZ=UTC * * * * *"},
		"negative limit":   {Every: time.Second, Limit: -1},
		"@every 0s":        {Pattern: "@every 0s"},
		"@every -5s":       {Pattern: "@every -5s"},
		"@every 1ns":       {Pattern: "@every 1ns"},
		"@every 200 years": {Pattern: "@every 1752000h"},
		"@every garbage":   {Pattern: "@every soon"},
		"every 200 years":  {Every: 200 * 365 * 24 * time.Hour},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := newPlanner(r)
			var ve *ValidationError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *ValidationError", err)
			}
		})
	}
}

func TestPlannerAtEveryPlansAsEvery(t *testing.T) {
	for _, d := range []time.Duration{1500 * time.Millisecond, 250 * time.Millisecond, time.Hour} {
		pat := mustPlanner(t, Repeat{Pattern: "@every " + d.String()})
		every := mustPlanner(t, Repeat{Every: d})
		got, _ := pat.plan(time.Time{}, t0, 3, -1)
		want, _ := every.plan(time.Time{}, t0, 3, -1)
		checkTimes(t, got, want...)
	}
}
