package tunedhttp_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/shopmesh/shopmesh/tools/analyzers/tunedhttp"
)

func TestAnalyzer(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), tunedhttp.Analyzer, "svc", "example.com/pkg/platform/httpclient")
}
