// Command shopmeshvet runs shopmesh's analyzers, the rules of DESIGN.md
// that a type checker can see, over the packages it is given; `make lint`
// runs it over every module. Each finding names its rule and the fix; an
// exception is a //shopmesh:allow <analyzer> <why> comment on its line.
//
//	go run ./tools/cmd/shopmeshvet ./pkg/... ./gateway/...
package main

import (
	"golang.org/x/tools/go/analysis/multichecker"

	"github.com/shopmesh/shopmesh/tools/analyzers/ctxflow"
	"github.com/shopmesh/shopmesh/tools/analyzers/ctxparam"
	"github.com/shopmesh/shopmesh/tools/analyzers/grpcconn"
	"github.com/shopmesh/shopmesh/tools/analyzers/tunedhttp"
)

func main() {
	multichecker.Main(ctxflow.Analyzer, ctxparam.Analyzer, grpcconn.Analyzer, tunedhttp.Analyzer)
}
