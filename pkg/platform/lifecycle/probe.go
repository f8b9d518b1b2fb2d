package lifecycle

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

// ProbeArg is the argument that turns a service binary into its own
// readiness probe. Images are FROM scratch, with no shell or curl, so the
// compose health check runs `/app healthcheck`.
const ProbeArg = "healthcheck"

// IsProbe reports whether args (os.Args) ask for the probe.
func IsProbe(args []string) bool { return len(args) > 1 && args[1] == ProbeArg }

// Probe asks the admin server at adminAddr (":9090" or "host:port") for
// /readyz and returns nil only on 200.
func Probe(ctx context.Context, adminAddr string) error {
	if adminAddr == "" {
		adminAddr = ":9090"
	}
	host, port, err := net.SplitHostPort(adminAddr)
	if err != nil {
		return fmt.Errorf("probe: admin address %q: %w", adminAddr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	client, err := httpclient.New(httpclient.Options{Name: "probe", Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	// The client is this call's alone: leave no pooled connection behind.
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	resp, err := client.Do(req) //nolint:bodyclose // closed by httpclient.DrainAndClose below
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer httpclient.DrainAndClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe: /readyz answered %s", resp.Status)
	}
	return nil
}
