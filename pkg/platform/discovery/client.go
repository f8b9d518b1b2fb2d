package discovery

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
)

// ParseEndpoints splits a comma-separated ETCD_ENDPOINTS value and checks
// each entry is an http(s)://host:port URL, so a typo is a clear start-up
// error instead of a client that retries an address forever.
func ParseEndpoints(s string) ([]string, error) {
	var eps []string
	for _, raw := range strings.Split(s, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" {
			return nil, fmt.Errorf("etcd endpoint %q: want scheme://host:port with scheme http or https", raw)
		}
		eps = append(eps, raw)
	}
	if len(eps) == 0 {
		return nil, errors.New("no etcd endpoints given")
	}
	return eps, nil
}

// NewClient returns an etcd client for endpoints. tlsConfig may be nil only
// for plain http:// endpoints (the dev flag). Creating the client does not
// wait for etcd: the first request does, within its own context.
func NewClient(endpoints []string, tlsConfig *tls.Config, logger *slog.Logger) (*clientv3.Client, error) {
	for _, ep := range endpoints {
		if strings.HasPrefix(ep, "https://") && tlsConfig == nil {
			return nil, fmt.Errorf("etcd endpoint %s needs a TLS config", ep)
		}
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 3 * time.Second,
		// Detect a dead member quickly so the client fails over to another.
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		TLS:                  tlsConfig,
		// gRPC's default reconnect backoff grows to 2 minutes: after a long
		// etcd outage the client could wait that long to notice etcd is
		// back, and re-registration and relists with it. Reconnect attempts
		// are cheap; keep them at most a couple of seconds apart.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 3 * time.Second,
		})},
		// etcd logs through zap; keep it quiet, our own logs say what matters.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	logger.Info("etcd client created", "endpoints", endpoints)
	return cli, nil
}
