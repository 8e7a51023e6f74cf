package bolt

import (
	"bytes"
	"context"

	"github.com/droverhq/drover/backend"
	"go.etcd.io/bbolt"
)

var _ backend.QueueLister = (*Backend)(nil)

// Queues returns the name of every queue the file holds, sorted: the
// top-level buckets named "q:" and the queue's name. It reads no queue's
// contents.
func (b *Backend) Queues(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names := []string{}
	err := b.view(func(tx *bbolt.Tx) error {
		c := tx.Cursor()
		// bbolt keeps the top-level buckets sorted by name, so the queues
		// come in order and end where the prefix does.
		for k, _ := c.Seek(queuePrefix); k != nil && bytes.HasPrefix(k, queuePrefix); k, _ = c.Next() {
			names = append(names, string(k[len(queuePrefix):]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return names, nil
}
