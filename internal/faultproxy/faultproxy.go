// Package faultproxy is a TCP proxy for tests that loses the replies to
// chosen Redis commands. It forwards every command to the server; for a
// command it was told to drop, it waits for the server's reply, throws it
// away and closes both connections. The client then sees its connection
// end after the server applied the command, which is what a client
// library's resend must cope with.
//
// The proxy listens on 127.0.0.1 and forwards only to loopback addresses.
// Commands are counted in the order they reach the proxy, over all its
// connections, so a drop is deterministic for a client that sends one
// command at a time. Close ends every connection and waits for the
// proxy's goroutines.
package faultproxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ReplyWait bounds how long the proxy waits for the reply to a command it
// drops; if none comes, it closes the connections anyway.
const ReplyWait = 30 * time.Second

// Match reports whether a command, given as its arguments with the
// command's name first, is one whose reply to drop.
type Match func(args []string) bool

// Command matches commands by name, in any case.
func Command(name string) Match {
	return func(args []string) bool { return len(args) > 0 && strings.EqualFold(args[0], name) }
}

// Proxy forwards connections from a loopback port to a target server.
type Proxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	rules    []*rule
	watchers []func(args []string)
	pairs    map[*pair]struct{}
	closed   bool
	wg       sync.WaitGroup

	dropped  atomic.Int64
	commands atomic.Int64
}

// rule drops the reply to the n-th command that match accepts.
type rule struct {
	n     int
	match Match
}

// Start starts a proxy to target (a loopback host:port) and closes it when
// the test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := New(target)
	if err != nil {
		t.Fatalf("faultproxy: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// New starts a proxy to target, which must be a loopback host:port.
func New(target string) (*Proxy, error) {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("target %s is not a loopback address", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, pairs: map[*pair]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the address clients connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// DropReply makes the proxy lose the reply to the n-th command (1 for the
// next one) that match accepts, counted from now over all connections.
// Rules given one after the other are counted independently.
func (p *Proxy) DropReply(n int, match Match) {
	if n < 1 {
		panic("faultproxy: DropReply needs n >= 1")
	}
	p.mu.Lock()
	p.rules = append(p.rules, &rule{n: n, match: match})
	p.mu.Unlock()
}

// Watch calls fn with each command the proxy forwards from now on, before
// it forwards it. fn runs on the proxy's goroutines, one call at a time.
func (p *Proxy) Watch(fn func(args []string)) {
	p.mu.Lock()
	p.watchers = append(p.watchers, fn)
	p.mu.Unlock()
}

// Pending reports how many DropReply rules have not fired yet.
func (p *Proxy) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.rules)
}

// Dropped reports how many replies the proxy has lost so far.
func (p *Proxy) Dropped() int { return int(p.dropped.Load()) }

// Commands reports how many commands the proxy has forwarded so far.
func (p *Proxy) Commands() int { return int(p.commands.Load()) }

// Close stops listening, closes every connection and waits until the
// proxy's goroutines have ended. It can be called more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for c := range p.pairs {
		c.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// drop reports whether the reply to args is to be lost, using up a rule.
func (p *Proxy) drop(args []string) bool {
	p.commands.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, fn := range p.watchers {
		fn(args)
	}
	for i, r := range p.rules {
		if !r.match(args) {
			continue
		}
		r.n--
		if r.n == 0 {
			p.rules = append(p.rules[:i], p.rules[i+1:]...)
			return true
		}
	}
	return false
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			_ = client.Close()
			continue
		}
		c := &pair{p: p, client: client, server: server, drops: map[int64]bool{}}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.close()
			return
		}
		p.pairs[c] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go c.requests()
		go c.replies()
	}
}

// pair is one client connection and its connection to the server.
type pair struct {
	p      *Proxy
	client net.Conn
	server net.Conn

	mu    sync.Mutex
	sent  int64          // commands forwarded
	drops map[int64]bool // 1-based numbers of the commands whose reply to lose
	once  sync.Once
}

func (c *pair) close() {
	c.once.Do(func() {
		_ = c.client.Close()
		_ = c.server.Close()
	})
}

func (c *pair) done() {
	c.close()
	c.p.mu.Lock()
	delete(c.p.pairs, c)
	c.p.mu.Unlock()
	c.p.wg.Done()
}

// requests forwards commands from the client to the server, one at a time,
// noting those whose reply is to be lost before the server can answer.
func (c *pair) requests() {
	defer c.done()
	r := bufio.NewReader(c.client)
	for {
		raw, args, err := readCommand(r)
		if err != nil {
			return
		}
		drop := c.p.drop(args)
		c.mu.Lock()
		c.sent++
		if drop {
			c.drops[c.sent] = true
			// The pair ends with this reply: bound the wait for it.
			_ = c.server.SetReadDeadline(time.Now().Add(ReplyWait))
		}
		c.mu.Unlock()
		if _, err := c.server.Write(raw); err != nil {
			return
		}
	}
}

// replies forwards the server's replies to the client until it meets one
// to lose: then it reads that reply whole, so that the command is known to
// have run, and closes both connections.
func (c *pair) replies() {
	defer c.done()
	r := bufio.NewReader(c.server)
	var n int64
	for {
		raw, push, err := readReply(r)
		if err != nil {
			return
		}
		if push {
			// An out-of-band message, not the reply to a command.
			if _, err := c.client.Write(raw); err != nil {
				return
			}
			continue
		}
		n++
		c.mu.Lock()
		drop := c.drops[n]
		delete(c.drops, n)
		c.mu.Unlock()
		if drop {
			c.p.dropped.Add(1)
			return
		}
		if _, err := c.client.Write(raw); err != nil {
			return
		}
	}
}

var errProtocol = errors.New("faultproxy: malformed RESP")

// readLine reads one CRLF-terminated line and returns it with its CRLF.
func readLine(r *bufio.Reader, buf []byte) ([]byte, string, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return buf, "", err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return buf, "", errProtocol
	}
	buf = append(buf, line...)
	return buf, string(line[:len(line)-2]), nil
}

// readBulk reads n bytes and their CRLF.
func readBulk(r *bufio.Reader, buf []byte, n int) ([]byte, string, error) {
	start := len(buf)
	buf = append(buf, make([]byte, n+2)...)
	if _, err := io.ReadFull(r, buf[start:]); err != nil {
		return buf, "", err
	}
	if buf[len(buf)-2] != '\r' || buf[len(buf)-1] != '\n' {
		return buf, "", errProtocol
	}
	return buf, string(buf[start : start+n]), nil
}

// readCommand reads one command sent by a client: an array of bulk
// strings, or an inline command.
func readCommand(r *bufio.Reader) ([]byte, []string, error) {
	buf, line, err := readLine(r, nil)
	if err != nil {
		return nil, nil, err
	}
	if !strings.HasPrefix(line, "*") {
		return buf, strings.Fields(line), nil
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 {
		return nil, nil, errProtocol
	}
	args := make([]string, 0, n)
	for range n {
		buf, line, err = readLine(r, buf)
		if err != nil {
			return nil, nil, err
		}
		size, err := strconv.Atoi(strings.TrimPrefix(line, "$"))
		if err != nil || line[0] != '$' || size < 0 {
			return nil, nil, errProtocol
		}
		var arg string
		buf, arg, err = readBulk(r, buf, size)
		if err != nil {
			return nil, nil, err
		}
		args = append(args, arg)
	}
	return buf, args, nil
}

// readReply reads one whole RESP2 or RESP3 reply, with any attribute
// before it; push reports an out-of-band push message.
func readReply(r *bufio.Reader) (raw []byte, push bool, err error) {
	b, err := r.Peek(1)
	if err != nil {
		return nil, false, err
	}
	push = b[0] == '>'
	raw, err = readValue(r, nil)
	return raw, push, err
}

// readValue appends one RESP value to buf.
func readValue(r *bufio.Reader, buf []byte) ([]byte, error) {
	buf, line, err := readLine(r, buf)
	if err != nil {
		return buf, err
	}
	if line == "" {
		return buf, errProtocol
	}
	kind, rest := line[0], line[1:]
	switch kind {
	case '+', '-', ':', '_', ',', '#', '(':
		return buf, nil
	case '$', '!', '=':
		n, err := strconv.Atoi(rest)
		if err != nil {
			return buf, errProtocol
		}
		if n < 0 {
			return buf, nil
		}
		buf, _, err = readBulk(r, buf, n)
		return buf, err
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(rest)
		if err != nil {
			return buf, errProtocol
		}
		if kind == '%' || kind == '|' {
			n *= 2
		}
		for range max(n, 0) {
			if buf, err = readValue(r, buf); err != nil {
				return buf, err
			}
		}
		if kind == '|' {
			// An attribute comes before the value it describes.
			return readValue(r, buf)
		}
		return buf, nil
	}
	return buf, errProtocol
}
