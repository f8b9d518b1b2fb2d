// Package ctxflow is the shopmesh analyzer for rule 4 of DESIGN.md: a
// context flows from the caller. context.Background and context.TODO start
// a new chain with no deadline, no cancellation and no trace, so outside a
// main package, a function named run (a command's body) and tests, a call
// to either is a finding.
package ctxflow

import (
	"go/ast"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/inspector"
	"golang.org/x/tools/go/types/typeutil"

	"github.com/shopmesh/shopmesh/tools/analyzers/allow"
)

// Analyzer reports context.Background and context.TODO outside main
// packages, run functions and tests.
var Analyzer = &analysis.Analyzer{
	Name:     name,
	Doc:      "reports context.Background and context.TODO outside main packages, run functions and tests (DESIGN.md rule 4)",
	Requires: []*analysis.Analyzer{inspect.Analyzer},
	Run:      run,
}

const name = "ctxflow"

func run(pass *analysis.Pass) (any, error) {
	if pass.Pkg.Name() == "main" {
		return nil, nil
	}
	in := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	in.WithStack([]ast.Node{(*ast.CallExpr)(nil)}, func(n ast.Node, push bool, stack []ast.Node) bool {
		if !push {
			return true
		}
		call := n.(*ast.CallExpr)
		fn := typeutil.StaticCallee(pass.TypesInfo, call)
		if fn == nil || fn.Pkg() == nil || fn.Pkg().Path() != "context" || fn.Name() != "Background" && fn.Name() != "TODO" {
			return true
		}
		if allow.IsTest(pass, call.Pos()) || inRun(stack) {
			return true
		}
		allow.Reportf(pass, call.Pos(), name, "ctxflow (rule 4): context.%s starts a context with no deadline, cancellation or trace: "+
			"take ctx as the first parameter and pass it on (allowed in main packages, run functions and tests)", fn.Name())
		return true
	})
	return nil, nil
}

// inRun reports whether the innermost function declaration on stack is
// named run: a command's body, which owns the process's lifetime.
func inRun(stack []ast.Node) bool {
	for i := len(stack) - 1; i >= 0; i-- {
		if fd, ok := stack[i].(*ast.FuncDecl); ok {
			return fd.Name.Name == "run"
		}
	}
	return false
}
