package redis

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis/internal/layout"
)

// addNode is one job of an Add request, flattened in preorder.
type addNode struct {
	set    int // 1-based key set index
	parent int // 1-based node index, 0 at the top
	job    *backend.NewJob
}

// place encodes where a node goes, added at now: "" for the common case of
// a top-level job in the call's queue with an assigned id, no delay, no
// priority, not LIFO, no deduplication key and no group, else the list of key set,
// parent, id, delay ms, priority, "1" for LIFO, and the deduplication
// key, mode, TTL ms and "1" for KeepLastIfActive.
func (n addNode) place(now time.Time) string {
	j := n.job
	delay := j.DelayAt(now)
	d := &j.Dedup
	if n.set == 1 && n.parent == 0 && j.ID == "" && delay <= 0 && j.Priority == 0 && !j.LIFO && d.Key == "" && j.Group == "" {
		return ""
	}
	return encode(strconv.Itoa(n.set), strconv.Itoa(n.parent), j.ID,
		strconv.FormatInt(durMs(delay), 10), strconv.Itoa(j.Priority), flag(j.LIFO),
		d.Key, string(d.Mode), num(durMs(d.TTL)), flag(d.KeepLastIfActive))
}

// flag encodes a boolean field: "1" or "".
func flag(b bool) string {
	if b {
		return "1"
	}
	return ""
}

// Add inserts jobs and flow trees in one script call. A flow whose
// children live in other queues passes those queues' key sets too; on a
// Cluster client such a flow fails with ErrUnsupported unless its queues
// share a slot (Options.SlotTag).
func (b *Backend) Add(ctx context.Context, queue string, req *backend.AddRequest) (backend.AddResult, error) {
	queues, nodes, err := b.planAdd(ctx, queue, req)
	if err != nil {
		return backend.AddResult{}, err
	}
	if len(queues) == 1 && len(nodes) == len(req.Jobs) {
		return b.addFlat(ctx, queue, nodes)
	}
	res, err := b.runAdd(ctx, queue, queues, nodes)
	if err != nil {
		return backend.AddResult{}, err
	}
	return assemble(req, queues, nodes, res), nil
}

// planAdd checks an Add request before anything is sent, and flattens it:
// the queues of its key sets (queue first) and its jobs in preorder. Add
// and a transaction's add (tx.go) both start here, so they accept the
// same requests.
func (b *Backend) planAdd(ctx context.Context, queue string, req *backend.AddRequest) ([]string, []addNode, error) {
	if err := b.check(queue); err != nil {
		return nil, nil, err
	}
	if err := req.Validate(queue, b.opts.MaxPayload, b.opts.Clock.Now()); err != nil {
		return nil, nil, err
	}
	// Nothing is sent once ctx has ended: the caller learns that nothing
	// was written.
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	queues := []string{queue}
	sets := map[string]int{queue: 1}
	var nodes []addNode
	var walk func(j *backend.NewJob, q string, parent int)
	walk = func(j *backend.NewJob, q string, parent int) {
		if j.Queue != "" {
			q = j.Queue
		}
		set, ok := sets[q]
		if !ok {
			queues = append(queues, q)
			set = len(queues)
			sets[q] = set
		}
		nodes = append(nodes, addNode{set: set, parent: parent, job: j})
		me := len(nodes)
		for k := range j.Children {
			walk(&j.Children[k], q, me)
		}
	}
	for i := range req.Jobs {
		walk(&req.Jobs[i], queue, 0)
	}
	for _, q := range queues[1:] {
		if err := b.checkTag(q); err != nil {
			return nil, nil, err
		}
		if b.cluster && b.HashTag(q) != b.HashTag(queue) {
			return nil, nil, fmt.Errorf("%w: a flow across queues %q of different Redis Cluster slots (Options.SlotTag can place them in one)", backend.ErrUnsupported, queues)
		}
	}
	return queues, nodes, nil
}

// runAdd runs the add script over nodes and returns the reply, two values
// per node.
func (b *Backend) runAdd(ctx context.Context, queue string, queues []string, nodes []addNode) ([]string, error) {
	keys, argv := b.addArgs(queues, nodes, b.replyTTL)
	res, err := b.write(ctx, "add", queue, b.reqs.next(), keys, argv)
	if err != nil {
		return nil, err
	}
	return addReply(queue, nodes, res)
}

// addArgs returns the add script's key sets and arguments for nodes over
// queues, added now; ttl is the reply TTL of the call (see header).
func (b *Backend) addArgs(queues []string, nodes []addNode, ttl string) ([]string, []any) {
	keys := make([]string, 0, len(queues)*layout.NumKeys)
	for _, q := range queues {
		keys = append(keys, b.queueKeys(q)...)
	}
	now := b.opts.Clock.Now()
	argv := append(b.header(now.UnixMilli(), ttl, 2+len(queues)+len(nodes)*3), len(queues))
	for _, q := range queues {
		argv = append(argv, q)
	}
	argv = append(argv, len(nodes))
	for _, n := range nodes {
		argv = append(argv, n.place(now), jobHead(n.job), jobOpts(n.job, ""))
	}
	return keys, argv
}

// addReply decodes the add script's reply res to the add of nodes: two
// values per node, its job ID and what became of it (see added).
func addReply(queue string, nodes []addNode, res any) ([]string, error) {
	if a, _ := res.([]any); len(a) == 1 {
		// Plain jobs: numbered from the one value on.
		first, _ := a[0].(int64)
		out := make([]string, 0, 2*len(nodes))
		for i := range nodes {
			out = append(out, itoa(first+int64(i)), "0")
		}
		return out, nil
	}
	out := toStrings(res)
	if len(out) != 2*len(nodes) {
		return nil, fmt.Errorf("drover: add to %s: reply of %d values for %d jobs", queue, len(out), len(nodes))
	}
	return out, nil
}

// addedAs returns the Added of a job of queue from its ID and what the
// add script says became of it: "0" added, "1" a duplicate by its ID, or
// the outcome of an add whose deduplication key held (ID is the holder).
func addedAs(queue, id, what string) backend.Added {
	a := backend.Added{Queue: queue, ID: id}
	switch what {
	case "0":
	case "1":
		a.Duplicate = true
	default:
		a.Duplicate, a.Dedup = true, backend.DedupOutcome(what)
	}
	return a
}

// assemble rebuilds the trees of an add from its preorder reply.
func assemble(req *backend.AddRequest, queues []string, nodes []addNode, out []string) backend.AddResult {
	added := make([]backend.Added, len(nodes))
	kids := make([][]int, len(nodes))
	for i, n := range nodes {
		added[i] = addedAs(queues[n.set-1], out[2*i], out[2*i+1])
		if n.parent > 0 {
			kids[n.parent-1] = append(kids[n.parent-1], i)
		}
	}
	// In preorder a node comes after its parent, so filling the nodes
	// from the last one on fills every child before its parent copies it.
	for i := len(nodes) - 1; i >= 0; i-- {
		if len(kids[i]) > 0 {
			added[i].Children = make([]backend.Added, len(kids[i]))
			for k, c := range kids[i] {
				added[i].Children[k] = added[c]
			}
		}
	}
	result := backend.AddResult{Jobs: make([]backend.Added, 0, len(req.Jobs))}
	for i, n := range nodes {
		if n.parent == 0 {
			if added[i].Duplicate {
				added[i].Children = nil
			}
			result.Jobs = append(result.Jobs, added[i])
		}
	}
	return result
}

// maxCoalesced bounds the jobs of one coalesced add script call.
const maxCoalesced = 1000

// addCall is one Add of jobs without children waiting to be coalesced.
type addCall struct {
	ctx   context.Context
	nodes []addNode
	out   []string
	err   error
	done  chan struct{}
	// taken is set, under the addQueue's lock, once a runner has taken
	// the call: its jobs are then sent, or it ended with ctx's error.
	taken bool
}

// finished reports whether the call's script call has returned.
func (c *addCall) finished() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// maxAddCalls bounds the coalesced add script calls in flight per queue.
// Two keep Redis busy while the client reads one reply and sends the next
// call. More split the waiting Adds into smaller calls, and were much
// slower on a 2-core machine, where the client then competes with Redis
// for the CPUs.
const maxAddCalls = 2

// addQueue gathers the Adds of one queue: while maxAddCalls add script
// calls are in flight, the next Adds wait and then share one call. Jobs
// without children never conflict, so one call over many Adds has the
// same effect as one call each.
type addQueue struct {
	mu      sync.Mutex
	pending []*addCall
	running int // runners taking pending Adds, at most maxAddCalls
}

// addFlat adds jobs without children, coalescing concurrent calls for the
// same queue into shared script calls. A caller whose ctx ends before its
// jobs are sent is left out and gets ctx's error; once they are sent, it
// waits for the outcome (bounded by the client's timeouts and the resend
// window), which it then knows.
func (b *Backend) addFlat(ctx context.Context, queue string, nodes []addNode) (backend.AddResult, error) {
	v, _ := b.adders.LoadOrStore(queue, &addQueue{})
	aq := v.(*addQueue)
	c := &addCall{ctx: ctx, nodes: nodes, done: make(chan struct{})}
	aq.mu.Lock()
	aq.pending = append(aq.pending, c)
	lead := aq.running < maxAddCalls
	if lead {
		aq.running++
	}
	aq.mu.Unlock()
	if lead {
		b.runAdds(context.WithoutCancel(ctx), queue, aq, c)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		aq.mu.Lock()
		if !c.taken {
			c.taken = true
			if i := slices.Index(aq.pending, c); i >= 0 {
				aq.pending = slices.Delete(aq.pending, i, i+1)
			}
			aq.mu.Unlock()
			return backend.AddResult{}, fmt.Errorf("drover: add to %s: %w", queue, ctx.Err())
		}
		aq.mu.Unlock()
		<-c.done
	}
	if c.err != nil {
		return backend.AddResult{}, c.err
	}
	res := backend.AddResult{Jobs: make([]backend.Added, len(nodes))}
	for i := range nodes {
		res.Jobs[i] = addedAs(queue, c.out[2*i], c.out[2*i+1])
	}
	return res, nil
}

// runAdds runs script calls for the queue's pending Adds until none is
// left, or, when mine is set, until mine is done: then a goroutine takes
// over the rest, so that a caller does not serve others for long. Another
// runner may take mine; it is done when that runner's call is.
func (b *Backend) runAdds(ctx context.Context, queue string, aq *addQueue, mine *addCall) {
	queues := []string{queue}
	for {
		aq.mu.Lock()
		if mine != nil && mine.finished() {
			if len(aq.pending) == 0 {
				aq.running--
				aq.mu.Unlock()
				return
			}
			aq.mu.Unlock()
			go b.runAdds(ctx, queue, aq, nil)
			return
		}
		var calls []*addCall
		n := 0
		for len(aq.pending) > 0 && (n == 0 || n+len(aq.pending[0].nodes) <= maxCoalesced) {
			c := aq.pending[0]
			aq.pending = aq.pending[1:]
			c.taken = true
			if err := c.ctx.Err(); err != nil {
				c.err = fmt.Errorf("drover: add to %s: %w", queue, err)
				close(c.done)
				continue
			}
			calls = append(calls, c)
			n += len(c.nodes)
		}
		if len(calls) == 0 {
			aq.running--
			aq.pending = nil
			aq.mu.Unlock()
			return
		}
		aq.mu.Unlock()
		nodes := calls[0].nodes
		if len(calls) > 1 {
			nodes = make([]addNode, 0, n)
			for _, c := range calls {
				nodes = append(nodes, c.nodes...)
			}
		}
		out, err := b.runAdd(ctx, queue, queues, nodes)
		k := 0
		for _, c := range calls {
			if err != nil {
				c.err = err
			} else {
				c.out = out[2*k : 2*(k+len(c.nodes))]
			}
			k += len(c.nodes)
			close(c.done)
		}
	}
}
