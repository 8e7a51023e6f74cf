package queue

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/internal/redistest"
)

// Every class of error a caller can act on is errors.Is-able, and a
// message says each thing once: no layer repeats what the one below it
// said, and no store internals show through.
func TestErrorsAreTypedAndSayEachThingOnce(t *testing.T) {
	ctx := context.Background()
	bs, err := bolt.Open(filepath.Join(t.TempDir(), "drover.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	_, client := redistest.Mini(t)
	rs, err := redis.New(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, store := range map[string]backend.Backend{"bolt": bs, "redis": rs} {
		t.Run(name, func(t *testing.T) {
			q, err := New(store, "mail", nil)
			if err != nil {
				t.Fatal(err)
			}
			j, err := q.Add(ctx, "n", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, err, want error) {
				t.Helper()
				if !errors.Is(err, want) {
					t.Errorf("%s = %v, want %v", what, err, want)
					return
				}
				msg := err.Error()
				for _, leak := range []string{"DROVER_", "redis: nil", "drover: drover:"} {
					if strings.Contains(msg, leak) {
						t.Errorf("%s: %q shows %q", what, msg, leak)
					}
				}
				// No part of the message before the sentinel's own words
				// comes twice.
				parts := strings.Split(msg, ": ")
				seen := map[string]bool{}
				for _, p := range parts {
					if seen[p] && p != "drover" {
						t.Errorf("%s: %q says %q twice", what, msg, p)
					}
					seen[p] = true
				}
			}
			_, err = q.Add(ctx, "", nil, nil)
			check("Add with no name", err, ErrInvalid)
			_, err = AddJSON(ctx, q, "n", math.NaN(), nil)
			check("AddJSON of NaN", err, ErrInvalid)
			check("UpdateProgress of NaN", j.UpdateProgress(ctx, math.Inf(1)), ErrInvalid)
			check("RemoveJob of an unknown job", q.RemoveJob(ctx, "ghost"), ErrNotFound)
			_, err = q.Job(ctx, "ghost")
			check("Job of an unknown job", err, ErrNotFound)
			check("RemoveJobScheduler of an unknown scheduler", q.RemoveJobScheduler(ctx, "ghost"), ErrNotFound)
			_, err = q.JobScheduler(ctx, "ghost")
			check("JobScheduler of an unknown scheduler", err, ErrNotFound)
			_, err = q.Jobs(ctx, StateWaiting, Page{Limit: -1})
			check("Jobs with a negative limit", err, ErrInvalid)
			var ve *ValidationError
			if errors.As(err, &ve) && ve.Field != "Limit" {
				t.Errorf("Jobs with a negative limit names field %s, want Limit", ve.Field)
			}
			_, err = q.Subscribe(ctx, FromID(1<<40), nil)
			check("Subscribe ahead of the log", err, ErrEventsAhead)
		})
	}
}
