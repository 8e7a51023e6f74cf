package redis

import (
	"context"
	"slices"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis/internal/layout"
)

var _ backend.QueueLister = (*Backend)(nil)

// Queues returns the name of every queue under the store's prefix,
// sorted. Every queue that ever had an event has a meta hash,
// "{prefix:queue}:meta" or "{prefix:tag}[queue]:meta" (its counters
// outlive Obliterate), so Queues SCANs for those keys: on Cluster, on every master. The scan walks the
// whole key space of each server, a page at a time; it is for tools, not
// for a hot path.
func (b *Backend) Queues(ctx context.Context) ([]string, error) {
	if b.closed.Load() {
		return nil, backend.ErrClosed
	}
	head := "{" + b.opts.Prefix + ":"
	tail := ":" + layout.KeySuffixes[layout.KeyMeta]
	match := escapeGlob(head) + "*" + escapeGlob(tail)
	var (
		mu    sync.Mutex
		found = map[string]bool{}
	)
	scan := func(ctx context.Context, c goredis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := c.ScanType(ctx, cursor, match, 1000, "hash").Result()
			if err != nil {
				return err
			}
			mu.Lock()
			for _, k := range keys {
				if name := queueOfMeta(k, head, tail); name != "" {
					found[name] = true
				}
			}
			mu.Unlock()
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	var err error
	if cc, ok := b.client.(*goredis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, b.client)
	}
	if err != nil {
		return nil, b.failed(err)
	}
	names := make([]string, 0, len(found))
	for n := range found {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// queueOfMeta returns the queue whose meta key is k, or "" if k is not
// one: "{prefix:queue}:meta", or "{prefix:tag}[queue]:meta" for a queue
// under a slot tag (see queueKeys). Neither a queue name nor a tag has a
// brace, so the tag ends at the first "}".
func queueOfMeta(k, head, tail string) string {
	rest, ok := strings.CutPrefix(k, head)
	if !ok {
		return ""
	}
	rest, ok = strings.CutSuffix(rest, tail)
	i := strings.IndexByte(rest, '}')
	if !ok || i < 0 || backend.ValidateQueueName(rest[:i]) != nil {
		return ""
	}
	name := rest[:i]
	if after := rest[i+1:]; after != "" {
		inner, ok := strings.CutPrefix(after, "[")
		if inner, ok2 := strings.CutSuffix(inner, "]"); ok && ok2 {
			name = inner
		} else {
			return ""
		}
	}
	if backend.ValidateQueueName(name) != nil {
		return ""
	}
	return name
}

// escapeGlob escapes the characters that SCAN's MATCH pattern reads as
// wildcards.
func escapeGlob(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
