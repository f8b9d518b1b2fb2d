// Command loadcurve measures how a running shopmesh (`make up`) behaves
// under load: the rate it sustains, then goodput and latency from a quarter
// of that to four times it, offered open-loop. `make bench` runs it.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/shopmesh/shopmesh/e2e/load"
	"github.com/shopmesh/shopmesh/e2e/stack"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadcurve:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("loadcurve", flag.ContinueOnError)
	gateway := fs.String("gateway", "http://127.0.0.1:8080", "the gateway's base URL (loopback only)")
	key := fs.String("jwt-key", os.Getenv("JWT_SIGNING_KEY"), "the gateway's JWT_SIGNING_KEY")
	step := fs.Duration("step", 20*time.Second, "how long each rate is offered")
	factors := fs.String("factors", "0.25,0.5,1,1.5,2,3,4", "offered rates, as multiples of the sustained rate")
	sat := fs.Float64("saturation", 0, "the sustained rate in orders/s (0: measure it closed-loop first)")
	nProducts := fs.Int("products", 20, "how many products the load buys, created with ample stock")
	paysimURL := fs.String("paysim", "https://paysim:8443", "the payment-provider simulator, for its faults")
	paysimCA := fs.String("paysim-ca", "/certs/ca.pem", "the CA that signed the simulator's certificate")
	paysimKey := fs.String("paysim-key", "sk_test_shopmesh", "the simulator's API key")
	faults := fs.String("faults", "", "provider faults during the run, e.g. {\"latency\":\"2500ms\"}")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bearer := func(customer string) string { return stack.BearerSignedWith(*key, customer) }
	runID := fmt.Sprintf("lc%d", time.Now().Unix()%100000)
	products, err := stockUp(ctx, *gateway, stack.BearerSignedWith(*key, "bench", "admin"), *nProducts)
	if err != nil {
		return err
	}
	if *faults != "" {
		sim, err := newPaysim(*paysimURL, *paysimCA, *paysimKey)
		if err != nil {
			return err
		}
		if err := sim.setFaults(ctx, *faults); err != nil {
			return err
		}
		defer func() { _ = sim.setFaults(context.WithoutCancel(ctx), "{}") }()
	}
	if *sat == 0 {
		ps, err := load.Place(ctx, load.Options{Gateway: *gateway, Workers: 32, Duration: *step, Bearer: bearer, Run: runID + "s", Products: products})
		if err != nil {
			return err
		}
		s := load.Summarize(ps, 0, *step)
		fmt.Println("closed loop, 32 customers:", s)
		*sat = s.Goodput
	}
	for i, f := range parseFactors(*factors) {
		time.Sleep(5 * time.Second)
		rate := f * *sat
		ps, err := load.Place(ctx, load.Options{Gateway: *gateway, Rate: rate, Duration: *step, Bearer: bearer, Run: fmt.Sprintf("%s%d", runID, i), Products: products})
		if err != nil {
			return err
		}
		fmt.Printf("%.2f×: %v\n", f, load.Summarize(ps, rate, *step))
	}
	return nil
}

type paysim struct {
	hc        *http.Client
	base, key string
}

func newPaysim(base, caFile, key string) (*paysim, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	hc, err := httpclient.New(httpclient.Options{Name: "paysim-admin", Timeout: 5 * time.Second,
		TLSConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}})
	if err != nil {
		return nil, err
	}
	return &paysim{hc: hc, base: base, key: key}, nil
}

func (p *paysim) setFaults(ctx context.Context, faults string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/admin/faults", bytes.NewReader([]byte(faults)))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+p.key)
	resp, err := p.hc.Do(req)
	if err != nil {
		return err
	}
	defer httpclient.DrainAndClose(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("set faults: %s", resp.Status)
	}
	return nil
}

// stockUp creates n products with a million units each (idempotent by id)
// and tops their stock up again, as an operator would before a sale.
func stockUp(ctx context.Context, gateway, admin string, n int) ([]string, error) {
	hc, err := httpclient.New(httpclient.Options{Name: "bench-admin", Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	defer hc.CloseIdleConnections()
	send := func(method, path string, body any) error {
		raw, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, method, gateway+path, bytes.NewReader(raw))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer httpclient.DrainAndClose(resp.Body)
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s: %s", method, path, resp.Status)
		}
		return nil
	}
	var ids []string
	for i := range n {
		id := fmt.Sprintf("bench-%02d", i+1)
		if err := send(http.MethodPost, "/v1/admin/products", map[string]any{
			"id": id, "name": "Bench item " + id, "price": map[string]any{"currency": "EUR", "amount_minor": 990}, "available": 1000000,
		}); err != nil {
			return nil, err
		}
		if err := send(http.MethodPut, "/v1/admin/products/"+id+"/stock", map[string]any{"available": 1000000}); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func parseFactors(s string) []float64 {
	var out []float64
	var f float64
	for _, part := range splitComma(s) {
		if _, err := fmt.Sscan(part, &f); err == nil {
			out = append(out, f)
		}
	}
	return out
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
