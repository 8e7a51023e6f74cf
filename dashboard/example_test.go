package dashboard_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/droverhq/drover/dashboard"
	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/internal/exampletb"
	"github.com/droverhq/drover/queue"
)

// An application mounts the dashboard of its store in its own server,
// under a prefix of its choosing.
func ExampleHandler() {
	t := exampletb.New() // in a test, the test's *testing.T
	defer t.Finish()
	store := drovertest.NewStore(t, nil) // a bbolt store in a temporary file
	q, err := queue.New(store, "mail", nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := q.Add(t.Context(), "welcome", []byte(`{"to":"ada"}`), nil); err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	// The one line: the dashboard at /drover/.
	mux.Handle("/drover/", http.StripPrefix("/drover", dashboard.Handler(store, nil)))

	srv := httptest.NewServer(mux) // the application's own server
	defer srv.Close()
	res, err := http.Get(srv.URL + "/drover/queues/mail")
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	page, err := io.ReadAll(res.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Status, strings.Contains(string(page), "welcome"))
	// Output: 200 OK true
}
