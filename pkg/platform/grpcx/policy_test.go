package grpcx

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPolicy_ServiceConfig(t *testing.T) {
	t.Parallel()
	t.Run("default is round robin with health checks and no retries", func(t *testing.T) {
		sc := decode(t, Policy{})
		if _, ok := sc.LoadBalancingConfig[0]["round_robin"]; !ok {
			t.Errorf("balancer %v, want round_robin", sc.LoadBalancingConfig)
		}
		if len(sc.MethodConfig) != 0 || sc.RetryThrottling != nil {
			t.Errorf("retries configured with no retryable methods: %+v", sc.MethodConfig)
		}
	})
	t.Run("least request and retries for listed methods only", func(t *testing.T) {
		sc := decode(t, Policy{Balancer: LeastRequest, Retryable: []string{"inventory.v1.InventoryService/Reserve", "payment.v1.PaymentService"}})
		if _, ok := sc.LoadBalancingConfig[0]["least_request_experimental"]; !ok {
			t.Errorf("balancer %v, want least_request_experimental", sc.LoadBalancingConfig)
		}
		names := sc.MethodConfig[0].Name
		if len(names) != 2 || names[0] != (methodName{"inventory.v1.InventoryService", "Reserve"}) || names[1] != (methodName{Service: "payment.v1.PaymentService"}) {
			t.Errorf("retry names %+v", names)
		}
		codes := sc.MethodConfig[0].RetryPolicy["retryableStatusCodes"].([]any)
		if len(codes) != 1 || codes[0] != "UNAVAILABLE" {
			t.Errorf("retryable codes %v, want only UNAVAILABLE", codes)
		}
		if sc.RetryThrottling == nil {
			t.Error("retries without throttling would storm a sick service")
		}
	})
	for _, bad := range []Policy{{Balancer: "random"}, {Retryable: []string{"/Reserve"}}, {Retryable: []string{"a/b/c"}}} {
		if _, err := bad.serviceConfigJSON(); err == nil {
			t.Errorf("%+v: got nil error, want one", bad)
		}
	}
}

func decode(t *testing.T, p Policy) serviceConfig {
	t.Helper()
	raw, err := p.serviceConfigJSON()
	if err != nil {
		t.Fatalf("serviceConfigJSON: %v", err)
	}
	var sc serviceConfig
	if err := json.NewDecoder(strings.NewReader(raw)).Decode(&sc); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return sc
}

func TestConns_RefusesUnresolvableScheme(t *testing.T) {
	t.Parallel()
	c := NewConns(nil, WithTarget(func(s string) string { return "etcd:///" + s }))
	defer c.Close()
	if _, err := c.Get("inventory"); err == nil || !strings.Contains(err.Error(), `"etcd"`) {
		t.Fatalf("Get with no etcd resolver: got %v, want an error naming the scheme", err)
	}
}
