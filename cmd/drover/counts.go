package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/droverhq/drover/backend"
)

func runCounts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("counts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	store := fs.String("store", "", "bbolt file path or redis:// URL")
	prefix := fs.String("prefix", "drover", "Redis key prefix")
	name := fs.String("queue", "", "queue name")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	b, closeStore, err := openStore(*store, *prefix)
	if err != nil {
		return err
	}
	defer closeStore()
	c, err := b.Counts(ctx, *name)
	if err != nil {
		return err
	}
	for _, s := range backend.States {
		fmt.Fprintf(stdout, "%-17s %d\n", s, c.Of(s))
	}
	fmt.Fprintf(stdout, "%-17s %v\n", "paused", c.Paused)
	return nil
}
