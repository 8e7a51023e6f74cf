package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
)

// ErrNotDurable: a write was applied on the master, but fewer replicas
// than Options.WaitReplicas acknowledged it within Options.WaitTimeout,
// so a failover may lose it. An error that matches it matches
// backend.ErrUnavailable too: as after a lost reply, the caller does not
// know whether the write will last, and retries only what is safe to
// repeat (an Add with caller-chosen IDs makes no second job; a repeated
// Settle reports ErrLeaseLost if the first one lasted).
var ErrNotDurable = errors.New("drover: redis: write not acknowledged by enough replicas")

// checkWait checks that WAIT can follow a write on the connection that
// sent it with this client: a plain client's pipeline keeps to one
// connection, and a Cluster client's master nodes are plain clients;
// and that the wait fits in the client's read timeout.
func checkWait(c goredis.UniversalClient, o *Options) error {
	if o.WaitReplicas == 0 {
		return nil
	}
	var read time.Duration
	switch c := c.(type) {
	case *goredis.Client:
		read = c.Options().ReadTimeout
	case *goredis.ClusterClient:
		read = c.Options().ReadTimeout
	default:
		return backend.Invalid("WaitReplicas", fmt.Sprintf("waiting for replicas needs a *redis.Client or *redis.ClusterClient, not a %T", c))
	}
	if read > 0 && o.WaitTimeout >= read {
		return backend.Invalid("WaitTimeout", fmt.Sprintf("wait timeout %s is not shorter than the client's ReadTimeout %s", o.WaitTimeout, read))
	}
	return nil
}

// notDurable is the error of a write that acked replicas acknowledged.
func (b *Backend) notDurable(acked int64) error {
	return &storeError{sentinel: ErrNotDurable, cause: backend.ErrUnavailable,
		detail: fmt.Sprintf("%d of %d replicas acknowledged the write within %s; a failover may lose it", acked, b.opts.WaitReplicas, b.opts.WaitTimeout)}
}

// runDurable runs script like scripts.run, then waits on the same
// connection until Options.WaitReplicas replicas have the write, and
// returns ErrNotDurable if fewer did in time.
func (b *Backend) runDurable(ctx context.Context, script string, keys []string, argv []any) (any, error) {
	acked := int64(-1)
	res, err := b.scripts.runVia(ctx, b.client, script, keys, argv, func(ctx context.Context, args []any) (any, error) {
		res, n, err := b.sendWait(ctx, keys[0], args)
		acked = n
		return res, err
	})
	if err != nil {
		return nil, err
	}
	if acked < int64(b.opts.WaitReplicas) {
		return nil, b.notDurable(max(acked, 0))
	}
	return res, nil
}

// sendWait sends a script command and WAIT in one pipeline, on one
// connection to the master of key's slot, and returns the script's reply
// and the replicas that acknowledged it. On Cluster it follows MOVED and
// ASK replies itself, as the Cluster client would for the script alone
// (the script did not run then); the caller retries TRYAGAIN and
// CLUSTERDOWN (retryUnstable).
func (b *Backend) sendWait(ctx context.Context, key string, args []any) (any, int64, error) {
	cc, ok := b.client.(*goredis.ClusterClient)
	if !ok {
		return pipeWait(ctx, b.client.(*goredis.Client), false, args, b.opts.WaitReplicas, b.opts.WaitTimeout)
	}
	node, err := cc.MasterForKey(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	asking := false
	var res any
	var acked int64
	for try := 0; ; try++ {
		res, acked, err = pipeWait(ctx, node, asking, args, b.opts.WaitReplicas, b.opts.WaitTimeout)
		if err == nil || try >= max(cc.Options().MaxRedirects, 0) {
			return res, acked, err
		}
		msg := err.Error()
		moved, ask := strings.HasPrefix(msg, "MOVED "), strings.HasPrefix(msg, "ASK ")
		asking = ask
		switch {
		case moved || ask:
			f := strings.Fields(msg)
			if node, err = masterAt(ctx, cc, f[len(f)-1]); err != nil {
				return nil, 0, err
			}
		default:
			return res, acked, err
		}
	}
}

// pipeWait sends, on one connection of c, ASKING if asking, the command
// args and WAIT, and returns the command's reply and WAIT's.
func pipeWait(ctx context.Context, c *goredis.Client, asking bool, args []any, replicas int, timeout time.Duration) (any, int64, error) {
	pipe := c.Pipeline()
	if asking {
		pipe.Do(ctx, "asking")
	}
	cmd := pipe.Do(ctx, args...)
	wait := pipe.Do(ctx, "wait", replicas, timeout.Milliseconds())
	_, _ = pipe.Exec(ctx)
	res, err := cmd.Result()
	if err != nil {
		return nil, 0, err
	}
	n, err := wait.Int64()
	return res, n, err
}

// masterAt returns the Cluster client's client of the master at addr,
// after reloading the slot map (which a MOVED or ASK reply says is out
// of date).
func masterAt(ctx context.Context, cc *goredis.ClusterClient, addr string) (*goredis.Client, error) {
	var found *goredis.Client
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
		if c.Options().Addr == addr {
			found = c
		}
		return nil
	})
	if err == nil && found == nil {
		err = fmt.Errorf("drover: redis: no master at %s in the cluster's slot map", addr)
	}
	return found, err
}
