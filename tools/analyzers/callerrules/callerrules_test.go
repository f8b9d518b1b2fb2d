package callerrules_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/shopmesh/shopmesh/tools/analyzers/callerrules"
)

func TestAnalyzer(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), callerrules.Analyzer, "svc")
}
