package faultproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/internal/redistest"
)

// TestDropReply checks that a dropped reply reaches neither a client that
// does not resend (it sees its connection end, and the server applied
// the command) nor one that does (go-redis by default: the command is
// then applied twice), and that other commands pass.
func TestDropReply(t *testing.T) {
	srv, direct := redistest.Mini(t)
	p := Start(t, srv.Addr())
	ctx := context.Background()

	once := goredis.NewClient(&goredis.Options{Addr: p.Addr(), MaxRetries: -1})
	defer once.Close()
	if err := once.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	p.DropReply(1, Command("incr"))
	if err := once.Incr(ctx, "n").Err(); !errors.Is(err, io.EOF) {
		t.Fatalf("INCR whose reply was dropped: %v, want EOF", err)
	}
	if n, _ := direct.Get(ctx, "n").Int(); n != 1 {
		t.Fatalf("n = %d after the dropped INCR, want 1", n)
	}
	if v, err := once.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET after the drop: %q, %v", v, err)
	}
	// A reply line longer than a read buffer passes whole.
	err := once.Eval(ctx, "return redis.error_reply(string.rep('x', 10000))", nil).Err()
	if err == nil || !strings.Contains(err.Error(), strings.Repeat("x", 10000)) {
		t.Fatalf("long error reply: %.40v", err)
	}

	resend := goredis.NewClient(&goredis.Options{Addr: p.Addr()})
	defer resend.Close()
	p.DropReply(2, Command("INCR"))
	if n, err := resend.Incr(ctx, "n").Result(); err != nil || n != 2 {
		t.Fatalf("INCR = %d, %v; want 2", n, err)
	}
	// The reply to this one is lost; go-redis sends it again, and the
	// server applies it twice.
	if n, err := resend.Incr(ctx, "n").Result(); err != nil || n != 4 {
		t.Fatalf("INCR = %d, %v; want 4", n, err)
	}
	if p.Dropped() != 2 || p.Pending() != 0 {
		t.Fatalf("dropped %d, pending %d; want 2, 0", p.Dropped(), p.Pending())
	}
}

// TestDropPipelined checks that the reply dropped is the one to the
// chosen command, when a client sends several before reading.
func TestDropPipelined(t *testing.T) {
	srv, _ := redistest.Mini(t)
	p := Start(t, srv.Addr())
	p.DropReply(1, func(args []string) bool { return len(args) == 2 && args[1] == "two" })
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = io.WriteString(c, "*2\r\n$4\r\nECHO\r\n$3\r\none\r\n*2\r\n$4\r\nECHO\r\n$3\r\ntwo\r\nPING\r\n")
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(bufio.NewReader(c))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "$3\r\none\r\n" {
		t.Fatalf("client read %q, want only the first reply", got)
	}
}

// TestClose checks that Close ends every connection and leaves no
// goroutine behind, and that the proxy refuses other hosts.
func TestClose(t *testing.T) {
	srv, _ := redistest.Mini(t)
	p, err := New(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: p.Addr(), MaxRetries: -1, PoolSize: 4})
	defer c.Close()
	ctx := context.Background()
	for range 4 {
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// A command whose reply never comes while the proxy closes.
	blocked := make(chan error, 1)
	go func() { blocked <- c.BLPop(ctx, 0, "nothing").Err() }()
	deadline := time.Now().Add(10 * time.Second)
	for p.Commands() < 5 {
		if time.Now().After(deadline) {
			t.Fatal("BLPOP did not reach the proxy")
		}
		time.Sleep(time.Millisecond)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-blocked; err == nil {
		t.Fatal("BLPOP through a closed proxy succeeded")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Close has waited for the proxy's goroutines; they end at once.
	for stacks := proxyGoroutines(); stacks != ""; stacks = proxyGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines of the proxy after Close:\n%s", stacks)
		}
		time.Sleep(time.Millisecond)
	}

	if _, err := New("192.0.2.1:6379"); err == nil {
		t.Fatal("a proxy to a non-loopback address was made")
	}
}

// proxyGoroutines returns the stacks of the goroutines running the
// proxy's code.
func proxyGoroutines() string {
	buf := make([]byte, 1<<20)
	var out []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "faultproxy.(*") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
