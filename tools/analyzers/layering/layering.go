// Package layering is the shopmesh analyzer for the layers of STYLE.md: a
// service's domain package (<svc>/internal/<svc>) and platform/apperr speak
// in domain terms and apperr errors, and import no gRPC, not even through
// another package; grpcx maps their errors to statuses at the edge. Each
// package that reaches gRPC carries a fact naming the import it comes
// through, so a finding shows the path.
package layering

import (
	"go/ast"
	"go/types"
	"strings"

	"golang.org/x/tools/go/analysis"

	"github.com/shopmesh/shopmesh/tools/analyzers/allow"
)

// Analyzer reports domain packages and apperr that import gRPC.
var Analyzer = &analysis.Analyzer{
	Name:      name,
	Doc:       "reports a service's domain package (<svc>/internal/<svc>) or platform/apperr that imports gRPC, directly or not (STYLE.md, layers)",
	Run:       run,
	FactTypes: []analysis.Fact{new(reachesGRPC)},
}

const name = "layering"

// grpcPath is the module a domain package must not reach.
const grpcPath = "google.golang.org/grpc"

// reachesGRPC marks a package that is or imports gRPC, directly or not;
// Path is the chain of imports from the package to gRPC, empty for gRPC's
// own packages.
type reachesGRPC struct{ Path []string }

func (*reachesGRPC) AFact() {}

func (f *reachesGRPC) String() string { return "reaches gRPC: " + strings.Join(f.Path, " → ") }

func run(pass *analysis.Pass) (any, error) {
	path := pass.Pkg.Path()
	if path == grpcPath || strings.HasPrefix(path, grpcPath+"/") {
		pass.ExportPackageFact(&reachesGRPC{})
		return nil, nil
	}
	// Only what the package's own files import: its tests may use gRPC.
	own := map[string]bool{}
	var first *ast.File
	for _, f := range pass.Files {
		if allow.IsTest(pass, f.Pos()) {
			continue
		}
		if first == nil {
			first = f
		}
		for _, spec := range f.Imports {
			own[strings.Trim(spec.Path.Value, `"`)] = true
		}
	}
	var via *reachesGRPC
	for _, imp := range pass.Pkg.Imports() {
		var f reachesGRPC
		if own[imp.Path()] && pass.ImportPackageFact(imp, &f) {
			via = &reachesGRPC{Path: append([]string{imp.Path()}, f.Path...)}
			break
		}
	}
	if via == nil {
		return nil, nil
	}
	pass.ExportPackageFact(via)
	if isDomain(pass.Pkg) {
		allow.Reportf(pass, first.Package, name, "layering: %s imports gRPC (%s): a domain package returns apperr errors and grpcx maps them to statuses",
			path, strings.Join(via.Path, " → "))
	}
	return nil, nil
}

// isDomain reports whether pkg is a service's domain package, whose path
// ends in <svc>/internal/<svc>, or platform/apperr. Its external test
// package (<svc>_test) is not: like the tests, it may use gRPC.
func isDomain(pkg *types.Package) bool {
	path := pkg.Path()
	if strings.HasSuffix(path, "/pkg/platform/apperr") {
		return true
	}
	parts := strings.Split(path, "/")
	n := len(parts)
	return n >= 3 && parts[n-2] == "internal" && parts[n-1] == parts[n-3]
}
