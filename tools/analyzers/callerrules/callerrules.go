// Package callerrules is the shopmesh analyzer that keeps every gRPC
// service of pkg/api behind its caller rules (docs/architecture.md: each
// method says which services may call it, by their certificates). The
// rules are checked when a service is registered on a *grpcx.Server: its
// RegisterService refuses a server over mutual TLS without rules, and a
// service with a method no rule names. A service registered on anything
// else, a bare *grpc.Server or the grpc.Server inside a grpcx.Server,
// skips that check and would serve every caller of the mesh, so outside
// tests that is a finding.
package callerrules

import (
	"go/ast"
	"go/types"
	"regexp"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/inspector"
	"golang.org/x/tools/go/types/typeutil"

	"github.com/shopmesh/shopmesh/tools/analyzers/allow"
	"github.com/shopmesh/shopmesh/tools/analyzers/named"
)

// Analyzer reports services of pkg/api registered on anything but a
// *grpcx.Server.
var Analyzer = &analysis.Analyzer{
	Name:     name,
	Doc:      "reports a gRPC service of pkg/api registered outside tests on anything but a *grpcx.Server, whose registration checks the caller rules",
	Requires: []*analysis.Analyzer{inspect.Analyzer},
	Run:      run,
}

const name = "callerrules"

// register matches the registration functions protoc-gen-go-grpc writes.
var register = regexp.MustCompile(`^Register\w+Server$`)

func run(pass *analysis.Pass) (any, error) {
	in := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	in.Preorder([]ast.Node{(*ast.CallExpr)(nil)}, func(n ast.Node) {
		call := n.(*ast.CallExpr)
		fn := typeutil.StaticCallee(pass.TypesInfo, call)
		if fn == nil || fn.Pkg() == nil || !register.MatchString(fn.Name()) || !strings.Contains(fn.Pkg().Path()+"/", "/pkg/api/") {
			return
		}
		if len(call.Args) == 0 || allow.IsTest(pass, call.Pos()) {
			return
		}
		if t := pass.TypesInfo.TypeOf(call.Args[0]); isGRPCXServer(t) {
			return
		}
		allow.Reportf(pass, call.Pos(), name, "callerrules: %s registers on %s, which checks no caller rules: "+
			"register on the *grpcx.Server itself (bootstrap's NewGRPCServer), whose rules must name every method",
			fn.Name(), types.TypeString(pass.TypesInfo.TypeOf(call.Args[0]), types.RelativeTo(pass.Pkg)))
	})
	return nil, nil
}

// isGRPCXServer reports whether t is *grpcx.Server of pkg/platform/grpcx.
func isGRPCXServer(t types.Type) bool {
	if _, pointer := types.Unalias(t).(*types.Pointer); !pointer {
		return false
	}
	o := named.Object(named.Deref(t))
	return o != nil && strings.HasSuffix(o.Pkg().Path(), "/pkg/platform/grpcx") && o.Name() == "Server"
}
