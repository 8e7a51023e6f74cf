package drovertest_test

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/queue"
)

func TestReminderIsSentAfterARetry(t *testing.T) {
	env := drovertest.New(t, nil) // fake clock, fresh store, removed at the end
	q := env.Queue("reminders")
	if err := remindTomorrow(t.Context(), q, "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	drovertest.RequireAdded(t, q, Reminder{To: "ada@example.com"})

	router, err := queue.NewRouter(queue.Handle(sendReminder))
	if err != nil {
		t.Fatal(err)
	}
	ran := env.RunFor(env.Worker("reminders", router.Handler(), nil), 48*time.Hour)
	if len(ran) != 2 || ran[1].State != queue.StateCompleted {
		t.Fatalf("ran %d attempts; want a failed one, then one that completes", len(ran))
	}
}

// The README shows TestReminderIsSentAfterARetry as it is here.
func TestREADMEShowsTheTest(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(src, []byte("func TestReminderIsSentAfterARetry"))
	end := bytes.Index(src, []byte("\n}\n")) + 3
	if start < 0 || end < start || !bytes.Contains(readme, src[start:end]) {
		t.Error("README.md does not show TestReminderIsSentAfterARetry as readme_test.go has it")
	}
}
