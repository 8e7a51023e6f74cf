package tracing_test

import (
	"os/exec"
	"strings"
	"testing"
)

// No package of drover but this one links OpenTelemetry: a program that
// does not import tracing does not pay for it.
func TestOnlyTracingImportsOpenTelemetry(t *testing.T) {
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the packages' dependencies")
	}
	out, err := exec.Command(gotool, "list", "-deps=false", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "github.com/droverhq/drover/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, " ")
		if pkg == "github.com/droverhq/drover/tracing" {
			continue
		}
		if strings.Contains(" "+deps, " go.opentelemetry.io/") {
			t.Errorf("package %s links OpenTelemetry", pkg)
		}
	}
}
