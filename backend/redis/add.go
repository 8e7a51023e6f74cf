package redis

import (
	"context"
	"fmt"

	"github.com/droverhq/drover/backend"
)

// addNode is one job of an Add request, flattened in preorder.
type addNode struct {
	set    int // 1-based key set index
	parent int // 1-based node index, 0 at the top
	job    *backend.NewJob
}

// Add inserts jobs and flow trees in one script call. A flow whose
// children live in other queues passes those queues' key sets too; on a
// Cluster client such a flow fails with ErrUnsupported.
func (b *Backend) Add(ctx context.Context, queue string, req *backend.AddRequest) (backend.AddResult, error) {
	if err := b.check(queue); err != nil {
		return backend.AddResult{}, err
	}
	if req == nil {
		return backend.AddResult{}, backend.Invalid("Jobs", "no job to add")
	}
	if err := backend.ValidateAdd(queue, req.Jobs, b.opts.MaxPayload); err != nil {
		return backend.AddResult{}, err
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
	if len(queues) > 1 && b.cluster {
		return backend.AddResult{}, fmt.Errorf("%w: a flow across queues %q on Redis Cluster", backend.ErrUnsupported, queues)
	}

	keys := make([]string, 0, len(queues)*len(keySuffixes))
	for _, q := range queues {
		keys = append(keys, b.queueKeys(q)...)
	}
	argv := make([]any, 0, 5+len(queues)+len(nodes)*6)
	argv = append(argv, b.now(), b.opts.EventRetention.Count, b.opts.EventRetention.Age.Milliseconds(), len(queues))
	for _, q := range queues {
		argv = append(argv, q)
	}
	argv = append(argv, len(nodes))
	for _, n := range nodes {
		argv = append(argv, n.set, n.parent, n.job.ID, durMs(n.job.Delay), n.job.Priority, jobTail(n.job, ""))
	}
	res, err := b.scripts["add"].Run(ctx, b.client, keys, argv...).Result()
	if err != nil {
		return backend.AddResult{}, fmt.Errorf("drover: add to %s: %w", queue, translate(err))
	}
	out := toStrings(res)
	if len(out) != 2*len(nodes) {
		return backend.AddResult{}, fmt.Errorf("drover: add to %s: reply of %d values for %d jobs", queue, len(out), len(nodes))
	}
	// Rebuild the trees from the preorder reply.
	added := make([]backend.Added, len(nodes))
	for i, n := range nodes {
		added[i] = backend.Added{Queue: queues[n.set-1], ID: out[2*i], Duplicate: out[2*i+1] == "1"}
	}
	for i := len(nodes) - 1; i >= 0; i-- {
		if p := nodes[i].parent; p > 0 {
			added[p-1].Children = append([]backend.Added{added[i]}, added[p-1].Children...)
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
	return result, nil
}
