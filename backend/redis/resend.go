package redis

import (
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend/redis/internal/layout"
)

// Resent calls
//
// go-redis (v9.23) sends a command again, up to MaxRetries times (3 by
// default; MaxRedirects on Cluster), when a try fails with an error it
// deems transient. Some of those come after the command was written, so
// the server may have run it: io.EOF or io.ErrUnexpectedEOF (the
// connection ended before the reply was read), any other network error
// but a timeout (a reset connection, ECONNRESET), and a read timeout
// (ReadTimeout, 5 s by default) for commands without a timeout of their
// own, as every script call is. Others come before anything was written:
// a failed dial, a pool timeout, LOADING, READONLY, MASTERDOWN,
// CLUSTERDOWN, TRYAGAIN and the like. Between tries it sleeps 10 ms to 1 s
// (MinRetryBackoff << try, capped by MaxRetryBackoff: at most 30, 50 and
// 90 ms for the three retries with the defaults), and a try may wait up
// to PoolTimeout (6 s) for a connection and dial one five times over
// (DialTimeout, 5 s each). So with the defaults a resend may start more
// than two minutes after the first send, though most come within
// milliseconds (a dropped connection) or just after ReadTimeout (a lost
// reply on a live connection).
//
// A write script call therefore carries a request ID, unique to it and
// kept by go-redis's resends (the arguments are the same), and the script
// keeps under {prefix:queue}:r:<id> a summary that lets a resend rebuild
// the reply without applying the call again (lib.lua, replayed). Rather
// than keep every summary for as long as go-redis might go on, which at a
// thousand calls a second would hold hundreds of thousands of keys, the
// store bounds go-redis: a write call runs under a deadline, the end of
// its resend window (Backend.window), which go-redis checks before each
// retry (its backoff sleep, the wait for a pooled connection and the dial
// all end with the context), so that no try starts after it. The call
// then fails with ErrUnavailable, which says that it may or may not have
// been applied. The summary is kept for the reply TTL (Backend.replyTTL):
// the window, plus WriteTimeout for the last try's write, plus
// ReadTimeout for a server slow to get to it.

// resendBounds returns the resend window and the reply TTL for a client;
// a TTL of 0 means the client never resends, and nothing is kept.
//
// The window is ReadTimeout (the longest a lost reply goes unnoticed on a
// live connection) plus 5 s for the retries: with the defaults, 10 s, in
// which a lost reply is seen and three retries have their backoffs (at
// most 170 ms together), a new connection or two, and a dial of up to 5 s.
// A longer outage ends the call with ErrUnavailable instead of a resend
// that might apply twice. The TTL is then 20 s with the defaults: about
// 150 bytes of server memory per write call (the key, its expiry and a
// short value; a lease keeps its job IDs too), 3 MB at a thousand write
// calls a second.
func resendBounds(c goredis.UniversalClient) (window, ttl time.Duration) {
	read, write := 5*time.Second, 5*time.Second // go-redis's defaults
	resends := true
	// The options as the client applied them: a timeout of 0 or less is
	// none, retry counts are the counts.
	switch c := c.(type) {
	case *goredis.Client:
		o := c.Options()
		read, write, resends = o.ReadTimeout, o.WriteTimeout, o.MaxRetries > 0
	case *goredis.ClusterClient:
		o := c.Options()
		read, write, resends = o.ReadTimeout, o.WriteTimeout, o.MaxRedirects > 0 || o.MaxRetries > 0
	case *goredis.Ring:
		o := c.Options()
		read, write, resends = o.ReadTimeout, o.WriteTimeout, o.MaxRetries > 0
	}
	// Without a timeout, a lost reply is seen only when the connection
	// ends; the write is then bounded only by the server taking it in.
	if read <= 0 {
		read = 5 * time.Second
	}
	if write <= 0 {
		write = 5 * time.Second
	}
	window = read + 5*time.Second
	if !resends {
		return window, 0
	}
	return window, window + write + read
}

// requestIDs names write calls: a random prefix per store, then a counter.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: base64.RawURLEncoding.EncodeToString(b[:])}
}

// next returns a new request ID: the prefix (12 characters) and the
// counter in base 36.
func (r *requestIDs) next() string {
	var buf [32]byte
	return string(strconv.AppendUint(append(buf[:0], r.prefix...), r.n.Add(1), 36))
}

// replyKey returns the key that keeps the summary of call id, in the slot
// of queue.
func (b *Backend) replyKey(queue, id string) string {
	meta := b.key(queue, layout.KeyMeta)
	return meta[:len(meta)-len("meta")] + "r:" + id
}
