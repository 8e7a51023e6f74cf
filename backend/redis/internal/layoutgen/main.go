// Command layoutgen writes lua/layout.lua, the Lua side of the Redis
// store's layout, from the Go definitions in internal/layout. It runs from
// the backend/redis directory: `go generate` there.
package main

import (
	"log"
	"os"

	"github.com/droverhq/drover/backend/redis/internal/layout"
)

func main() {
	if err := os.WriteFile("lua/layout.lua", []byte(layout.Lua()), 0o644); err != nil {
		log.Fatal(err)
	}
}
