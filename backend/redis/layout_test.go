package redis

import (
	"os"
	"strings"
	"testing"

	"github.com/droverhq/drover/backend/redis/internal/layout"
)

// lua/layout.lua is what the Go definitions render: run `go generate` in
// backend/redis after changing them.
func TestLayoutLuaIsCurrent(t *testing.T) {
	got, err := os.ReadFile("lua/layout.lua")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != layout.Lua() {
		t.Fatal("lua/layout.lua is stale: run go generate ./backend/redis")
	}
}

// Every part a script or part names exists, and the parts come after the
// parts they use, but for the pair that use each other.
func TestLuaPartsAreInOrder(t *testing.T) {
	src, err := readLua()
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, p := range partOrder {
		pos[p] = i
	}
	for _, p := range partOrder {
		for _, q := range src.needs[p] {
			if pos[q] > pos[p] && !(p == "transitions" && q == "flows") {
				t.Errorf("part %s uses %s, which comes after it", p, q)
			}
		}
	}
	for name, body := range src.bodies {
		if strings.Contains(body, "--- @requires") {
			t.Errorf("script %s says @requires; scripts say @include", name)
		}
	}
}
