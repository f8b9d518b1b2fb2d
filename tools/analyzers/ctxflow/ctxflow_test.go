package ctxflow_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/shopmesh/shopmesh/tools/analyzers/ctxflow"
)

func TestAnalyzer(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), ctxflow.Analyzer, "svc", "cmdmain")
}
