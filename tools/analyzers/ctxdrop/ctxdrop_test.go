package ctxdrop_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/shopmesh/shopmesh/tools/analyzers/ctxdrop"
)

func TestAnalyzer(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), ctxdrop.Analyzer, "svc")
}
