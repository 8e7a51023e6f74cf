package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	goredis "github.com/redis/go-redis/v9"
)

const asynqQueue = "bench"

// asynqSystem drives asynq through its public API. asynq has no bulk
// enqueue, so its bulk rows are empty and its dispatch bulks are added one
// job at a time.
type asynqSystem struct {
	rdb    *goredis.Client
	client *asynq.Client
}

func newAsynq(addr string) *asynqSystem {
	rdb := newClient(addr)
	return &asynqSystem{rdb: rdb, client: asynq.NewClientFromRedisClient(rdb)}
}

func (s *asynqSystem) Name() string { return "asynq" }

func (s *asynqSystem) Reset(ctx context.Context) error { return flush(ctx, s.rdb) }

func (s *asynqSystem) AddBulk(context.Context, [][]byte) error { return errNoBulk }

func (s *asynqSystem) Add(ctx context.Context, p []byte) error {
	_, err := s.client.EnqueueContext(ctx, asynq.NewTask("noop", p), asynq.Queue(asynqQueue))
	return err
}

func (s *asynqSystem) StartWorker(ctx context.Context, concurrency int, handle func([]byte)) (func(), error) {
	srv := asynq.NewServerFromRedisClient(s.rdb, asynq.Config{
		Concurrency:     concurrency,
		Queues:          map[string]int{asynqQueue: 1},
		Logger:          quietLogger{},
		LogLevel:        asynq.ErrorLevel,
		ShutdownTimeout: 5 * time.Second,
	})
	h := asynq.HandlerFunc(func(_ context.Context, t *asynq.Task) error {
		handle(t.Payload())
		return nil
	})
	if err := srv.Start(h); err != nil {
		return nil, fmt.Errorf("asynq server: %w", err)
	}
	return srv.Shutdown, nil
}

func (s *asynqSystem) UsedMemory(ctx context.Context) (int64, error) { return usedMemory(ctx, s.rdb) }

func (s *asynqSystem) Close() error {
	s.client.Close()
	return s.rdb.Close()
}

type quietLogger struct{}

func (quietLogger) Debug(...any) {}
func (quietLogger) Info(...any)  {}
func (quietLogger) Warn(...any)  {}
func (quietLogger) Error(...any) {}
func (quietLogger) Fatal(args ...any) {
	panic(fmt.Sprint(args...))
}
