// Package ctxdrop is the shopmesh analyzer for the second half of rule 4 of
// DESIGN.md: once a function has a context, every call it makes keeps it.
// Many APIs come in pairs, one that takes a context and one that does not
// (database/sql's Query and QueryContext, slog's Info and InfoContext,
// exec.Command and CommandContext); the second drops the caller's deadline,
// cancellation and, for a log line, its trace id. time.Sleep is the same
// mistake: it waits on even when the request is gone.
//
// A function has a context when it, or a function it is nested in, takes a
// parameter that is one: a context.Context, anything that implements it
// (such as *gin.Context) or an *http.Request. Tests are exempt.
package ctxdrop

import (
	"go/ast"
	"go/types"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/inspector"
	"golang.org/x/tools/go/types/typeutil"

	"github.com/shopmesh/shopmesh/tools/analyzers/allow"
	"github.com/shopmesh/shopmesh/tools/analyzers/named"
)

// Analyzer reports calls that drop the context a function has.
var Analyzer = &analysis.Analyzer{
	Name:     name,
	Doc:      "reports calls, in a function that has a context, of a variant that drops it (Query for QueryContext, slog.Info for InfoContext, time.Sleep) (DESIGN.md rule 4)",
	Requires: []*analysis.Analyzer{inspect.Analyzer},
	Run:      run,
}

const name = "ctxdrop"

// renamed lists the context variants whose names are not the plain name
// with "Context" appended.
var renamed = map[string]string{"Begin": "BeginTx"}

func run(pass *analysis.Pass) (any, error) {
	in := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	in.WithStack([]ast.Node{(*ast.CallExpr)(nil)}, func(n ast.Node, push bool, stack []ast.Node) bool {
		if !push {
			return true
		}
		call := n.(*ast.CallExpr)
		fn := typeutil.StaticCallee(pass.TypesInfo, call)
		if fn == nil || fn.Pkg() == nil || allow.IsTest(pass, call.Pos()) {
			return true
		}
		var msg string
		if fn.Pkg().Path() == "time" && fn.Name() == "Sleep" {
			msg = "time.Sleep waits on after the request is gone: wait with backoff.Sleep(ctx, d) (pkg/platform/backoff), which ends with ctx"
		} else if variant := contextVariant(fn); variant != "" {
			msg = fn.Name() + " drops the context: call " + variant + "(ctx, ...) so the deadline, cancellation and trace id go with it"
		} else {
			return true
		}
		if !hasContext(pass, stack) {
			return true
		}
		allow.Reportf(pass, call.Pos(), name, "ctxdrop (rule 4): %s", msg)
		return true
	})
	return nil, nil
}

// contextVariant returns the name of fn's variant that takes a context as
// its first parameter, beside fn in its package or on its receiver, or ""
// when there is none.
func contextVariant(fn *types.Func) string {
	sig := fn.Signature()
	if takesContext(sig) {
		return ""
	}
	want := fn.Name() + "Context"
	if r, ok := renamed[fn.Name()]; ok {
		want = r
	}
	var variant types.Object
	if recv := sig.Recv(); recv != nil {
		variant, _, _ = types.LookupFieldOrMethod(recv.Type(), true, fn.Pkg(), want)
	} else {
		variant = fn.Pkg().Scope().Lookup(want)
	}
	if v, ok := variant.(*types.Func); ok && takesContext(v.Signature()) {
		return want
	}
	return ""
}

// takesContext reports whether sig's first parameter is a context.Context.
func takesContext(sig *types.Signature) bool {
	return sig.Params().Len() > 0 && named.Is(sig.Params().At(0).Type(), "context", "Context")
}

// hasContext reports whether a function on stack, the innermost or one it
// is nested in, takes a parameter that carries a context.
func hasContext(pass *analysis.Pass, stack []ast.Node) bool {
	for i := len(stack) - 1; i >= 0; i-- {
		var ft *ast.FuncType
		switch f := stack[i].(type) {
		case *ast.FuncDecl:
			ft = f.Type
		case *ast.FuncLit:
			ft = f.Type
		default:
			continue
		}
		for _, field := range ft.Params.List {
			if carriesContext(pass.TypesInfo.TypeOf(field.Type)) {
				return true
			}
		}
	}
	return false
}

// carriesContext reports whether a value of type t is or holds a context:
// a context.Context, a type that implements it, or an *http.Request.
func carriesContext(t types.Type) bool {
	if t == nil {
		return false
	}
	if named.Is(t, "context", "Context") || implementsContext(t) {
		return true
	}
	_, pointer := types.Unalias(t).(*types.Pointer)
	return pointer && named.Is(named.Deref(t), "net/http", "Request")
}

// implementsContext reports whether t has context.Context's four methods.
// It compares names and arities rather than types.Implements, which would
// need the context package's object in a package that may not import it.
func implementsContext(t types.Type) bool {
	if _, ok := t.Underlying().(*types.Interface); ok {
		return false // an interface other than context.Context
	}
	ms := types.NewMethodSet(t)
	for _, want := range []struct {
		name          string
		params, rests int
	}{{"Deadline", 0, 2}, {"Done", 0, 1}, {"Err", 0, 1}, {"Value", 1, 1}} {
		sel := ms.Lookup(nil, want.name)
		if sel == nil {
			return false
		}
		sig, ok := sel.Type().(*types.Signature)
		if !ok || sig.Params().Len() != want.params || sig.Results().Len() != want.rests {
			return false
		}
	}
	return true
}
