package bootstrap_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/settings"
)

// A service's own settings are read with the shared ones, and every problem
// of both is reported at once, before anything is opened (Wire never runs).
func TestRun_ReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	wired := false
	svc := bootstrap.Service[int]{
		Name: "example",
		Config: func(s *settings.Reader) int {
			n := s.Int("EXAMPLE_COUNT", 1)
			s.Check(n > 0, "EXAMPLE_COUNT %d: must be positive", n)
			return n
		},
		Wire: func(context.Context, *bootstrap.Process, int) (bootstrap.Parts, error) {
			wired = true
			return bootstrap.Parts{}, errors.New("wired")
		},
	}
	err := bootstrap.Run(t.Context(), svc, []string{"example"}, env(map[string]string{
		"LOG_LEVEL": "loud", "EXAMPLE_COUNT": "0",
	}), io.Discard)
	for _, want := range []string{"config of example", "LOG_LEVEL", "EXAMPLE_COUNT 0: must be positive"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Run: %v, want an error saying %q", err, want)
		}
	}
	if wired {
		t.Error("Wire ran although the configuration was refused")
	}
}

// A wiring error takes down what Start opened and is returned.
func TestRun_WireError(t *testing.T) {
	t.Parallel()
	svc := bootstrap.Service[struct{}]{
		Name: "example",
		Wire: func(context.Context, *bootstrap.Process, struct{}) (bootstrap.Parts, error) {
			return bootstrap.Parts{}, errors.New("no store")
		},
	}
	err := bootstrap.Run(t.Context(), svc, []string{"example"}, env(map[string]string{
		"DEV_PLAINTEXT": "true", "ETCD_ENDPOINTS": "", "PEER_TARGETS": "none=dns:///none:1",
		"LISTEN_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0",
	}), io.Discard)
	if err == nil || err.Error() != "no store" {
		t.Errorf("Run: %v, want the wiring's error", err)
	}
}
