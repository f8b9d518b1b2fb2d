// Package ctxparam is the shopmesh analyzer for the shape rule 4 of
// DESIGN.md gives a context: it is a function's first parameter, and it is
// never stored in a struct, where it outlives the call it belongs to and
// hides which work it bounds.
package ctxparam

import (
	"go/ast"
	"go/types"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/inspector"

	"github.com/shopmesh/shopmesh/tools/analyzers/allow"
	"github.com/shopmesh/shopmesh/tools/analyzers/named"
)

// Analyzer reports a context.Context that is not the first parameter, and
// one held in a struct field.
var Analyzer = &analysis.Analyzer{
	Name:     name,
	Doc:      "reports a context.Context parameter that is not the first, and a context.Context struct field (DESIGN.md rule 4)",
	Requires: []*analysis.Analyzer{inspect.Analyzer},
	Run:      run,
}

const name = "ctxparam"

func run(pass *analysis.Pass) (any, error) {
	in := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	var file *ast.File
	report := func(n ast.Node, msg string) {
		allow.Reportf(pass, n.Pos(), name, "ctxparam (rule 4): %s", msg)
	}
	in.Preorder([]ast.Node{(*ast.File)(nil), (*ast.FuncType)(nil), (*ast.StructType)(nil)}, func(n ast.Node) {
		switch n := n.(type) {
		case *ast.File:
			file = n
		case *ast.FuncType:
			if ast.IsGenerated(file) {
				return
			}
			// A test helper takes its *testing.T (or TB) first, by custom.
			before := 0
			for _, field := range n.Params.List {
				t := pass.TypesInfo.TypeOf(field.Type)
				if isContext(t) && before > 0 {
					report(field, "context.Context comes first (after a test's *testing.T): move it to the first parameter")
				}
				if !isTesting(t) {
					before += max(len(field.Names), 1)
				}
			}
		case *ast.StructType:
			if ast.IsGenerated(file) {
				return
			}
			for _, field := range n.Fields.List {
				if isContext(pass.TypesInfo.TypeOf(field.Type)) {
					report(field, "a context in a struct outlives its call: pass it as the first parameter of the methods that need it")
				}
			}
		}
	})
	return nil, nil
}

// isContext reports whether t is context.Context.
func isContext(t types.Type) bool { return named.Is(t, "context", "Context") }

// isTesting reports whether t is *testing.T, *testing.B, *testing.F or
// testing.TB.
func isTesting(t types.Type) bool {
	o := named.Object(named.Deref(t))
	return o != nil && o.Pkg().Path() == "testing"
}
