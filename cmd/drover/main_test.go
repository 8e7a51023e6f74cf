package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestDemoThenEventsAndCounts(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var out bytes.Buffer
	args := []string{"demo", "-dir", dir, "-single", "5", "-bulk", "40", "-workers", "2", "-concurrency", "4"}
	if err := run(ctx, args, &out, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "done in") {
		t.Fatalf("demo printed no summary:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "started before every other job") {
		t.Errorf("the alerts did not run first:\n%s", out.String())
	}
	store := filepath.Join(dir, "demo.db")

	out.Reset()
	if err := run(ctx, []string{"counts", "-store", store, "-queue", "demo"}, &out, &out); err != nil {
		t.Fatalf("counts: %v", err)
	}
	// 5 + 40 + 10 delayed + 5 alerts complete; the 5 card charges fail.
	for _, want := range []string{"completed         60", "failed            5", "waiting           0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("counts output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	if err := run(ctx, []string{"events", "-store", store, "-queue", "demo", "-from", "start", "-follow=false"}, &out, &out); err != nil {
		t.Fatalf("events: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	perType := map[string]int{}
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) < 3 {
			t.Fatalf("event line %d is malformed: %q", i, l)
		}
		if want := strings.TrimSpace(f[0]); want != strconv.Itoa(i+1) {
			t.Fatalf("event line %d has ID %s, want %d (gap or disorder)", i, f[0], i+1)
		}
		perType[f[2]]++
	}
	if perType["added"] != 65 || perType["completed"] != 60 || perType["failed"] != 5 {
		t.Errorf("events per type = %v; want 65 added, 60 completed, 5 failed", perType)
	}
}

func TestEventsRejectsABadFrom(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"events", "-store", filepath.Join(t.TempDir(), "x.db"), "-queue", "q", "-from", "yesterday"}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "yesterday") {
		t.Fatalf("events -from yesterday = %v; want an error naming it", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"frobnicate"}, &out, &out)
	code, msg := exitStatus(err)
	if code != 2 || !strings.Contains(msg, "frobnicate") || !strings.Contains(out.String(), "usage: drover") {
		t.Fatalf("unknown command: exit %d, message %q, printed %q; want exit 2, the usage and the command named", code, msg, out.String())
	}
}

func TestNoArgumentsPrintsUsageAndExits2(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), nil, &stdout, &stderr)
	if code, msg := exitStatus(err); code != 2 || msg != "" {
		t.Errorf("no arguments: exit %d, message %q; want exit 2 and nothing beyond the usage", code, msg)
	}
	if !strings.HasPrefix(stderr.String(), "usage: drover") || stdout.Len() != 0 {
		t.Errorf("no arguments printed %q to stderr and %q to stdout; want the usage on stderr", stderr.String(), stdout.String())
	}
}

func TestExitStatus(t *testing.T) {
	var out bytes.Buffer
	badFlag := run(context.Background(), []string{"counts", "-nosuchflag"}, &out, &out)
	for _, c := range []struct {
		name string
		err  error
		code int
	}{
		{"success", nil, 0},
		{"help", run(context.Background(), []string{"demo", "-h"}, &out, &out), 0},
		{"a bad flag", badFlag, 2},
		{"a failed command", errors.New("disk full"), 1},
	} {
		if code, _ := exitStatus(c.err); code != c.code {
			t.Errorf("%s (%v): exit %d, want %d", c.name, c.err, code, c.code)
		}
	}
	if _, msg := exitStatus(errors.New("disk full")); msg != "drover: disk full" {
		t.Errorf("message %q, want the error named as drover's", msg)
	}
}

func TestInspectingAMissingFileCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "typo.db")
	for _, args := range [][]string{
		{"counts", "-store", store, "-queue", "q"},
		{"events", "-store", store, "-queue", "q", "-follow=false"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), args, &out, &out)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), store) || !strings.Contains(err.Error(), "no store file") {
			t.Errorf("%s on a missing file: %v; want an error that says there is no store file", args[0], err)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Fatalf("directory after: %v, %v; want it empty", entries, err)
	}
}
