// Package grpcconn is the shopmesh analyzer for rule 1 of DESIGN.md: gRPC
// connections have an explicit lifecycle. grpc.Dial and DialContext are
// deprecated and, with WithBlock or WithReturnConnectionError, hang on a
// peer that is down; a connection made with grpc.NewClient outside the
// shared set (pkg/platform/grpcx's Conns) is one per call site, with nobody
// to close it on shutdown, and insecure.NewCredentials outside grpcx skips
// the platform's one dev flag for plaintext. Tests may make their own
// connections, plaintext ones included, to probe a server.
package grpcconn

import (
	"go/ast"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/inspector"
	"golang.org/x/tools/go/types/typeutil"

	"github.com/shopmesh/shopmesh/tools/analyzers/allow"
)

// Analyzer reports gRPC connections made outside pkg/platform/grpcx.
var Analyzer = &analysis.Analyzer{
	Name:     name,
	Doc:      "reports grpc.Dial, DialContext, WithBlock and WithReturnConnectionError, and grpc.NewClient and insecure.NewCredentials outside pkg/platform/grpcx and tests (DESIGN.md rule 1)",
	Requires: []*analysis.Analyzer{inspect.Analyzer},
	Run:      run,
}

const name = "grpcconn"

// owner is the one package that makes connections.
const owner = "/pkg/platform/grpcx"

func run(pass *analysis.Pass) (any, error) {
	inOwner := allow.InPackage(pass, owner)
	in := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	in.Preorder([]ast.Node{(*ast.CallExpr)(nil)}, func(n ast.Node) {
		call := n.(*ast.CallExpr)
		fn := typeutil.StaticCallee(pass.TypesInfo, call)
		if fn == nil || fn.Pkg() == nil || fn.Signature().Recv() != nil {
			return
		}
		var msg string
		switch path, fname := fn.Pkg().Path(), fn.Name(); {
		case path == "google.golang.org/grpc" && (fname == "Dial" || fname == "DialContext"):
			msg = "grpc." + fname + " is deprecated and can block: connections come from grpcx.Conns (grpc.NewClient, once per peer)"
		case path == "google.golang.org/grpc" && (fname == "WithBlock" || fname == "WithReturnConnectionError"):
			msg = "grpc." + fname + " makes a dial wait for a peer that may never come: let grpc.NewClient connect in the background"
		case inOwner || allow.IsTest(pass, call.Pos()):
			return
		case path == "google.golang.org/grpc" && fname == "NewClient":
			msg = "a connection made here has no owner to reuse and close it: take it from grpcx.Conns (pkg/platform/grpcx)"
		case path == "google.golang.org/grpc/credentials/insecure" && fname == "NewCredentials":
			msg = "plaintext outside the platform's dev flag: grpcx chooses credentials (TLS, or plaintext only when the dev flag says so)"
		default:
			return
		}
		allow.Reportf(pass, call.Pos(), name, "grpcconn (rule 1): %s", msg)
	})
	return nil, nil
}
