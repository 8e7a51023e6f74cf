package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/droverhq/drover/backend"
)

// digest hashes every key of the store's prefix with its type, value and
// whether it expires: two stores with the same digest hold the same data.
// It reads values with plain commands, so it works on miniredis too.
func digest(store backend.Full) (string, error) {
	b, ok := store.(*Backend)
	if !ok {
		return "", fmt.Errorf("digest of a %T", store)
	}
	ctx := context.Background()
	c := b.client
	var keys []string
	iter := c.Scan(ctx, 0, "{"+b.opts.Prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return "", err
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	h := sha256.New()
	for _, k := range keys {
		typ, err := c.Type(ctx, k).Result()
		if err != nil {
			return "", err
		}
		var v any
		switch typ {
		case "string":
			v, err = c.Get(ctx, k).Result()
		case "hash":
			var m map[string]string
			m, err = c.HGetAll(ctx, k).Result()
			fields := make([]string, 0, len(m))
			for f, x := range m {
				fields = append(fields, f+"\x00"+x)
			}
			slices.Sort(fields)
			v = fields
		case "zset":
			v, err = c.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "list":
			v, err = c.LRange(ctx, k, 0, -1).Result()
		case "stream":
			v, err = c.XRange(ctx, k, "-", "+").Result()
		case "set":
			var m []string
			m, err = c.SMembers(ctx, k).Result()
			slices.Sort(m)
			v = m
		default:
			err = fmt.Errorf("key %s of type %s", k, typ)
		}
		if err != nil {
			return "", err
		}
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%q %s %v expires:%v\n", k, typ, v, ttl > 0)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
