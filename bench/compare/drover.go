package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/queue"
)

const droverQueue = "bench"

// droverSystem drives drover's Redis store through the queue package.
type droverSystem struct {
	rdb   *goredis.Client
	store *redis.Backend
	q     *queue.Queue
	log   *slog.Logger
}

func newDrover(addr string) (system, error) {
	rdb := newClient(addr)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := redis.New(rdb, &redis.Options{Logger: log})
	if err != nil {
		rdb.Close()
		return nil, err
	}
	q, err := queue.New(store, droverQueue, &queue.Options{Logger: log})
	if err != nil {
		store.Close()
		rdb.Close()
		return nil, err
	}
	return &droverSystem{rdb: rdb, store: store, q: q, log: log}, nil
}

func (s *droverSystem) Name() string { return "drover" }

func (s *droverSystem) Reset(ctx context.Context) error { return flush(ctx, s.rdb) }

func (s *droverSystem) AddBulk(ctx context.Context, payloads [][]byte) error {
	jobs := make([]queue.BulkJob, len(payloads))
	for i, p := range payloads {
		jobs[i] = queue.BulkJob{Name: "noop", Data: p}
	}
	_, err := s.q.AddBulk(ctx, jobs)
	return err
}

func (s *droverSystem) Add(ctx context.Context, p []byte) error {
	_, err := s.q.Add(ctx, "noop", p, nil)
	return err
}

func (s *droverSystem) StartWorker(ctx context.Context, concurrency int, handle func([]byte)) (func(), error) {
	w, err := queue.NewWorker(s.store, droverQueue, func(_ context.Context, j *queue.Job) ([]byte, error) {
		handle(j.Data)
		return nil, nil
	}, &queue.WorkerOptions{Concurrency: concurrency, Logger: s.log})
	if err != nil {
		return nil, err
	}
	if err := w.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	return func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		w.Stop(stopCtx)
	}, nil
}

func (s *droverSystem) UsedMemory(ctx context.Context) (int64, error) { return usedMemory(ctx, s.rdb) }

func (s *droverSystem) Close() error {
	s.q.Close()
	s.store.Close()
	return s.rdb.Close()
}
