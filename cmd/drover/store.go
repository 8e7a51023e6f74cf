package main

import (
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/backend/redis"
)

// openStore opens an existing bbolt file, or connects to the Redis URL
// spec.
func openStore(spec, prefix string) (backend.Full, func() error, error) {
	if spec == "" {
		return nil, nil, fmt.Errorf("no store given: pass -store with a bbolt file or a redis:// URL")
	}
	if strings.HasPrefix(spec, "redis://") || strings.HasPrefix(spec, "rediss://") {
		opt, err := goredis.ParseURL(spec)
		if err != nil {
			return nil, nil, fmt.Errorf("parse %s: %w", spec, err)
		}
		client := goredis.NewClient(opt)
		b, err := redis.New(client, &redis.Options{Prefix: prefix})
		if err != nil {
			client.Close()
			return nil, nil, err
		}
		return b, func() error { b.Close(); return client.Close() }, nil
	}
	// Inspecting a path that holds no store is a mistake: say so rather
	// than create an empty store there.
	b, err := bolt.Open(spec, &bolt.Options{NoCreate: true})
	if err != nil {
		return nil, nil, err
	}
	return b, b.Close, nil
}
