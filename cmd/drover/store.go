package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/admin"
	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/backend/redis"
)

// store is what the commands work on: a bbolt or Redis store, or the
// client of an admin endpoint, through one code path.
type store interface {
	backend.Full
	backend.QueueLister
}

// The stores the commands can get.
var (
	_ store = (*bolt.Backend)(nil)
	_ store = (*redis.Backend)(nil)
	_ store = (*admin.Client)(nil)
)

// openStore opens the store the flags name; close releases it.
func (o *options) openStore() (s store, close func(), err error) {
	redisURL := o.redis
	if redisURL == "" && o.bolt == "" && o.admin == "" {
		redisURL = os.Getenv("REDIS_URL")
	}
	switch {
	case o.redis != "" && o.bolt != "":
		return nil, nil, usagef("--bolt and --redis name two stores: choose one")
	case redisURL != "" && o.admin != "":
		return nil, nil, usagef("--admin goes alone, or with the --bolt file whose endpoint it is; not with --redis")
	case o.bolt != "":
		return openBolt(o.bolt, o.admin)
	case o.admin != "":
		return dialAdmin(o.admin)
	case redisURL != "":
		return openRedis(redisURL, o.prefix)
	}
	return nil, nil, usagef("no store given: pass --bolt PATH, --redis URL (or set REDIS_URL), or --admin URL")
}

// openBolt opens an existing bbolt file, or, when another process holds
// it, that process's admin endpoint: adminURL, or the socket next to the
// file.
func openBolt(path, adminURL string) (store, func(), error) {
	// Inspecting a path that holds no store is a mistake: say so rather
	// than create an empty store there. A lock is not going to be let go
	// of soon: an application holds its file for as long as it runs.
	b, err := bolt.Open(path, &bolt.Options{NoCreate: true, LockTimeout: 100 * time.Millisecond})
	if err == nil {
		return b, func() { b.Close() }, nil
	}
	if !errors.Is(err, backend.ErrLocked) {
		return nil, nil, err
	}
	if adminURL == "" {
		sock := admin.SocketPath(path)
		if fi, serr := os.Stat(sock); serr == nil && fi.Mode().Type() == fs.ModeSocket {
			adminURL = "unix://" + sock
		}
	}
	if adminURL == "" {
		return nil, nil, fmt.Errorf("%w: %s is open in another process; serve admin.Handler in that process "+
			"(admin.ListenUnix at %s, where drover looks for it) or pass --admin URL", err, path, admin.SocketPath(path))
	}
	return dialAdmin(adminURL)
}

func dialAdmin(url string) (store, func(), error) {
	c, err := admin.Dial(url)
	if err != nil {
		return nil, nil, &usageError{err: fmt.Errorf("--admin: %w", err)}
	}
	return c, func() { c.Close() }, nil
}

func openRedis(url, prefix string) (store, func(), error) {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		// The URL may hold a password: it is not repeated.
		return nil, nil, usagef("--redis: %v", err)
	}
	client := goredis.NewClient(opt)
	b, err := redis.New(client, &redis.Options{Prefix: prefix})
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return b, func() { b.Close(); client.Close() }, nil
}
