package bolt

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"

	"github.com/droverhq/drover/backend"
	"go.etcd.io/bbolt"
)

// digest hashes every key and value of every bucket of the store's file,
// nested buckets included: two stores with the same digest hold the same
// bytes, whatever bbolt's pages look like.
func digest(store backend.Full) (string, error) {
	b, ok := store.(*Backend)
	if !ok {
		return "", fmt.Errorf("digest of a %T", store)
	}
	h := sha256.New()
	err := b.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bbolt.Bucket) error {
			return digestBucket(h, name, bk)
		})
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

func digestBucket(h hash.Hash, name []byte, bk *bbolt.Bucket) error {
	field(h, []byte("bucket"))
	field(h, name)
	return bk.ForEach(func(k, v []byte) error {
		if v == nil {
			return digestBucket(h, k, bk.Bucket(k))
		}
		field(h, k)
		field(h, v)
		return nil
	})
}

// field writes b length-prefixed, so that no two sequences of fields
// hash alike.
func field(h hash.Hash, b []byte) {
	h.Write(binary.AppendUvarint(nil, uint64(len(b))))
	h.Write(b)
}
