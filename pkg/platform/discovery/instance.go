package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Prefix is the root of every registration key.
const Prefix = "/services/"

// Instance is the value stored under an instance's key.
type Instance struct {
	// Addr is host:port where the instance serves gRPC.
	Addr string `json:"addr"`
	// Version is the build version of the instance.
	Version string `json:"version,omitempty"`
	// Zone is the failure domain (rack, zone) the instance runs in.
	Zone string `json:"zone,omitempty"`
	// Weight is a relative share of traffic for weighted balancers; 0 means 1.
	Weight int `json:"weight,omitempty"`
	// StartedAt is when the instance registered first.
	StartedAt time.Time `json:"started_at"`
}

// Validate reports whether the instance can be routed to.
func (in Instance) Validate() error {
	if in.Addr == "" {
		return errors.New("instance: empty addr")
	}
	host, port, err := net.SplitHostPort(in.Addr)
	if err != nil {
		return fmt.Errorf("instance: addr %q: %w", in.Addr, err)
	}
	if host == "" || port == "" || port == "0" {
		return fmt.Errorf("instance: addr %q needs a host and a port", in.Addr)
	}
	if in.Weight < 0 {
		return fmt.Errorf("instance: negative weight %d", in.Weight)
	}
	return nil
}

// ServicePrefix is the key prefix under which service's instances live.
func ServicePrefix(service string) string { return Prefix + service + "/" }

// Key is the registration key of one instance of service.
func Key(service, addr string) string { return ServicePrefix(service) + addr }

// validateService rejects names that would escape the service's key prefix.
func validateService(service string) error {
	if service == "" || strings.ContainsAny(service, "/ ") {
		return fmt.Errorf("invalid service name %q", service)
	}
	return nil
}

// decodeInstance parses a registration value and checks that it belongs to
// key: a value whose addr differs from the key's suffix is foreign and skipped.
func decodeInstance(key string, value []byte, prefix string) (Instance, error) {
	var in Instance
	if err := json.Unmarshal(value, &in); err != nil {
		return Instance{}, fmt.Errorf("decode %s: %w", key, err)
	}
	if err := in.Validate(); err != nil {
		return Instance{}, fmt.Errorf("decode %s: %w", key, err)
	}
	if strings.TrimPrefix(key, prefix) != in.Addr {
		return Instance{}, fmt.Errorf("decode %s: addr %q does not match the key", key, in.Addr)
	}
	return in, nil
}

// CountInstances returns how many instances of service are registered; a
// readiness check uses it to tell whether a peer can be reached at all.
func CountInstances(ctx context.Context, cli *clientv3.Client, service string) (int64, error) {
	if err := validateService(service); err != nil {
		return 0, err
	}
	resp, err := cli.Get(ctx, ServicePrefix(service), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("count instances of %s: %w", service, err)
	}
	return resp.Count, nil
}
