// Package tunedhttp is the shopmesh analyzer for rule 3 of DESIGN.md:
// outbound HTTP uses explicit, tuned clients. The package-level helpers of
// net/http (Get, Head, Post, PostForm) and its DefaultClient and
// DefaultTransport have no timeouts and are shared with every imported
// package; a Client or Transport built by hand misses the platform's
// timeouts, pooling and tracing. Only pkg/platform/httpclient builds them.
// http.NewRequest makes a request without the caller's context.
package tunedhttp

import (
	"go/ast"
	"go/types"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/inspector"
	"golang.org/x/tools/go/types/typeutil"

	"github.com/shopmesh/shopmesh/tools/analyzers/allow"
)

// Analyzer reports outbound HTTP that does not go through httpclient.New.
var Analyzer = &analysis.Analyzer{
	Name:     name,
	Doc:      "reports net/http's default client and helpers, hand-built Clients and Transports outside pkg/platform/httpclient, and http.NewRequest (DESIGN.md rule 3)",
	Requires: []*analysis.Analyzer{inspect.Analyzer},
	Run:      run,
}

// builder is the one package that builds clients and transports.
const builder = "/pkg/platform/httpclient"

const fix = "make the client with httpclient.New (pkg/platform/httpclient)"

const name = "tunedhttp"

func run(pass *analysis.Pass) (any, error) {
	inBuilder := allow.InPackage(pass, builder)
	in := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	nodes := []ast.Node{(*ast.CallExpr)(nil), (*ast.SelectorExpr)(nil), (*ast.CompositeLit)(nil)}
	report := func(n ast.Node, format string, args ...any) {
		allow.Reportf(pass, n.Pos(), name, "tunedhttp (rule 3): "+format, args...)
	}
	in.Preorder(nodes, func(n ast.Node) {
		switch n := n.(type) {
		case *ast.CallExpr:
			fn := typeutil.StaticCallee(pass.TypesInfo, n)
			if fn == nil || !isHTTP(fn) || fn.Signature().Recv() != nil {
				return
			}
			switch fn.Name() {
			case "Get", "Head", "Post", "PostForm":
				report(n, "http.%s uses the default client, with no timeout: %s", fn.Name(), fix)
			case "NewRequest":
				report(n, "http.NewRequest drops the caller's context: use http.NewRequestWithContext(ctx, ...)")
			}
		case *ast.SelectorExpr:
			if v, ok := pass.TypesInfo.Uses[n.Sel].(*types.Var); ok && isHTTP(v) && !inBuilder &&
				(v.Name() == "DefaultClient" || v.Name() == "DefaultTransport") {
				report(n, "http.%s has no timeouts and is shared with every imported package: %s", v.Name(), fix)
			}
		case *ast.CompositeLit:
			if inBuilder {
				return
			}
			t := pass.TypesInfo.TypeOf(n)
			if named, ok := t.(*types.Named); ok && isHTTP(named.Obj()) {
				if name := named.Obj().Name(); name == "Client" || name == "Transport" {
					report(n, "an http.%s built by hand misses the platform's timeouts, pooling and tracing: %s", name, fix)
				}
			}
		}
	})
	return nil, nil
}

// isHTTP reports whether obj is declared by net/http.
func isHTTP(obj types.Object) bool {
	return obj != nil && obj.Pkg() != nil && obj.Pkg().Path() == "net/http"
}
