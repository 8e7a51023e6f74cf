package backend

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// Every sentinel this package declares is in the list IsSentinel reads, so
// that a store never mistakes one of its own errors for a foreign one.
func TestEverySentinelIsListed(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := 0
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			call, ok := vs.Values[i].(*ast.CallExpr)
			if !ok || !strings.HasPrefix(name.Name, "Err") {
				continue
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); !ok || sel.Sel.Name != "New" {
				continue
			}
			declared++
		}
		return true
	})
	if declared != len(sentinels) {
		t.Errorf("errors.go declares %d sentinels, the list has %d", declared, len(sentinels))
	}
	for _, s := range sentinels {
		if !IsSentinel(s) {
			t.Errorf("IsSentinel(%v) = false", s)
		}
	}
}
