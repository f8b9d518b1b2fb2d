package grpcconn_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/shopmesh/shopmesh/tools/analyzers/grpcconn"
)

func TestAnalyzer(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), grpcconn.Analyzer, "svc", "example.com/pkg/platform/grpcx")
}
