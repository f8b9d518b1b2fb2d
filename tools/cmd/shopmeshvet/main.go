// Command shopmeshvet runs shopmesh's analyzers, the rules of DESIGN.md
// that a type checker can see, over the packages it is given; `make lint`
// runs it over every module. Each finding names its rule and the fix; an
// exception is a //shopmesh:allow <analyzer> <why> comment on its line.
//
//	go run ./tools/cmd/shopmeshvet ./pkg/... ./gateway/...
package main

import (
	"golang.org/x/tools/go/analysis/multichecker"

	"github.com/shopmesh/shopmesh/tools/analyzers/callerrules"
	"github.com/shopmesh/shopmesh/tools/analyzers/ctxdrop"
	"github.com/shopmesh/shopmesh/tools/analyzers/ctxflow"
	"github.com/shopmesh/shopmesh/tools/analyzers/ctxparam"
	"github.com/shopmesh/shopmesh/tools/analyzers/grpcconn"
	"github.com/shopmesh/shopmesh/tools/analyzers/layering"
	"github.com/shopmesh/shopmesh/tools/analyzers/tunedhttp"
)

func main() {
	multichecker.Main(
		callerrules.Analyzer, // every service behind its caller rules
		ctxdrop.Analyzer,     // rule 4: no call that drops the context
		ctxflow.Analyzer,     // rule 4: no new context chain outside main
		ctxparam.Analyzer,    // rule 4: ctx first, never a field
		grpcconn.Analyzer,    // rule 1: connections from grpcx only
		layering.Analyzer,    // domain packages import no gRPC
		tunedhttp.Analyzer,   // rule 3: no default HTTP client
	)
}
