package admin_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/droverhq/drover/admin"
	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/conformance"
)

// through is a store whose administration goes through an endpoint: the
// calls the endpoint serves go to the client, the others (adds, leases,
// settles, schedulers' upserts, progress) to the store itself, as they
// would in the application that serves the endpoint.
type through struct {
	*admin.Client
	store backend.Full
}

func (t *through) Add(ctx context.Context, q string, r *backend.AddRequest) (backend.AddResult, error) {
	return t.store.Add(ctx, q, r)
}

func (t *through) Lease(ctx context.Context, q string, r *backend.LeaseRequest) (backend.LeaseResult, error) {
	return t.store.Lease(ctx, q, r)
}

func (t *through) Renew(ctx context.Context, q string, r *backend.RenewRequest) (backend.RenewResult, error) {
	return t.store.Renew(ctx, q, r)
}

func (t *through) Settle(ctx context.Context, q string, r *backend.SettleRequest) (backend.SettleResult, error) {
	return t.store.Settle(ctx, q, r)
}

func (t *through) CompareAndUpsert(ctx context.Context, q string, r *backend.CompareAndUpsertRequest) (backend.CompareAndUpsertResult, error) {
	return t.store.CompareAndUpsert(ctx, q, r)
}

func (t *through) UpdateProgress(ctx context.Context, q, id string, p []byte) error {
	return t.store.UpdateProgress(ctx, q, id, p)
}

func (t *through) AddLog(ctx context.Context, q, id, line string) (int, error) {
	return t.store.AddLog(ctx, q, id, line)
}

// Close closes the client and then the store, so that every call after it
// fails with ErrClosed, whichever way it goes.
func (t *through) Close() error {
	t.Client.Close()
	return t.store.Close()
}

// TestConformanceThroughTheEndpoint runs the store suite with every call
// the endpoint serves going over HTTP: the protocol carries each request,
// result and error class that the suite checks.
func TestConformanceThroughTheEndpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole store suite over HTTP takes minutes under -race")
	}
	conformance.RunWith(t, func(t testing.TB, o conformance.Options) backend.Full {
		store, err := bolt.Open(filepath.Join(t.TempDir(), "drover.db"), &bolt.Options{
			Clock: o.Clock, MaxPayload: o.MaxPayload, EventRetention: o.EventRetention, NoSync: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(admin.Handler(store, nil))
		t.Cleanup(func() {
			srv.Close()
			store.Close()
		})
		return &through{Client: admin.NewClient(srv.URL, nil), store: store}
	}, conformance.Config{Emulated: true})
}
