package grpcx

import (
	"encoding/json"
	"fmt"
	"strings"

	// Registers least_request_experimental for Policy.Balancer.
	_ "google.golang.org/grpc/balancer/leastrequest"
)

// Balancer names accepted in a Policy.
const (
	RoundRobin   = "round_robin"
	LeastRequest = "least_request"
)

// Policy is how calls to one peer service are balanced and retried.
type Policy struct {
	// Balancer is RoundRobin (the default) or LeastRequest, which sends
	// each call to the less busy of two random instances: better when one
	// instance is slow.
	Balancer string
	// Retryable lists methods ("pkg.Service/Method") or whole services
	// ("pkg.Service") whose calls gRPC may repeat, on another instance,
	// when they fail with UNAVAILABLE. Name only idempotent ones.
	Retryable []string
}

// Retry and throttling settings. Three attempts ride out one instance dying
// mid-call; the throttle stops retrying once more than about one call in
// ten fails, so a sick service is not stormed by its own clients.
const (
	retryMaxAttempts    = 3
	retryInitialBackoff = "0.05s"
	retryMaxBackoff     = "0.5s"
	throttleMaxTokens   = 10
	throttleTokenRatio  = 0.1
)

type methodName struct {
	Service string `json:"service"`
	Method  string `json:"method,omitempty"`
}

type serviceConfig struct {
	LoadBalancingConfig []map[string]any `json:"loadBalancingConfig"`
	HealthCheckConfig   struct {
		ServiceName string `json:"serviceName"`
	} `json:"healthCheckConfig"`
	MethodConfig []struct {
		Name        []methodName   `json:"name"`
		RetryPolicy map[string]any `json:"retryPolicy"`
	} `json:"methodConfig,omitempty"`
	RetryThrottling map[string]any `json:"retryThrottling,omitempty"`
}

// serviceConfigJSON renders p as a gRPC service config: its balancer, a
// client-side health check of every instance (so one that reports
// NOT_SERVING drains before it leaves the registry), and the retry policy.
func (p Policy) serviceConfigJSON() (string, error) {
	var sc serviceConfig
	switch p.Balancer {
	case "", RoundRobin:
		sc.LoadBalancingConfig = []map[string]any{{"round_robin": map[string]any{}}}
	case LeastRequest:
		sc.LoadBalancingConfig = []map[string]any{{"least_request_experimental": map[string]any{"choiceCount": 2}}}
	default:
		return "", fmt.Errorf("unknown balancer %q: want %s or %s", p.Balancer, RoundRobin, LeastRequest)
	}
	if len(p.Retryable) > 0 {
		var names []methodName
		for _, r := range p.Retryable {
			svc, method, _ := strings.Cut(r, "/")
			if svc == "" || strings.Contains(method, "/") {
				return "", fmt.Errorf("retryable %q: want pkg.Service or pkg.Service/Method", r)
			}
			names = append(names, methodName{Service: svc, Method: method})
		}
		sc.MethodConfig = append(sc.MethodConfig, struct {
			Name        []methodName   `json:"name"`
			RetryPolicy map[string]any `json:"retryPolicy"`
		}{names, map[string]any{
			"maxAttempts":          retryMaxAttempts,
			"initialBackoff":       retryInitialBackoff,
			"maxBackoff":           retryMaxBackoff,
			"backoffMultiplier":    2,
			"retryableStatusCodes": []string{"UNAVAILABLE"},
		}})
		sc.RetryThrottling = map[string]any{"maxTokens": throttleMaxTokens, "tokenRatio": throttleTokenRatio}
	}
	b, err := json.Marshal(sc)
	return string(b), err
}
