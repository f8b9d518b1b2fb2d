package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/shopmesh/shopmesh/e2e/load"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

// stepOf turns a summary into the JSON record of one offered rate.
func stepOf(s load.Summary, factor float64) Step {
	return Step{Factor: factor, Offered: s.Offered, Goodput: s.Goodput,
		P50: ms(s.P50), P90: ms(s.P90), P99: ms(s.P99), Answers: s.ByStatus}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// send makes one JSON request and fails on any answer but a 2xx.
func send(ctx context.Context, hc *http.Client, method, url, auth string, body any, out any) error {
	var rd *bytes.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req) //nolint:bodyclose // httpclient.DrainAndClose closes it below
	if err != nil {
		return err
	}
	defer httpclient.DrainAndClose(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
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
	var ids []string
	for i := range n {
		id := fmt.Sprintf("bench-%02d", i+1)
		if err := send(ctx, hc, http.MethodPost, gateway+"/v1/admin/products", admin, map[string]any{
			"id": id, "name": "Bench item " + id, "price": map[string]any{"currency": "EUR", "amount_minor": 990}, "available": 1000000,
		}, nil); err != nil {
			return nil, err
		}
		if err := send(ctx, hc, http.MethodPut, gateway+"/v1/admin/products/"+id+"/stock", admin, map[string]any{"available": 1000000}, nil); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// paysim is the simulator's admin API and counters.
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
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", caFile)
	}
	hc, err := httpclient.New(httpclient.Options{Name: "paysim-admin", Timeout: 5 * time.Second,
		TLSConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}})
	if err != nil {
		return nil, err
	}
	return &paysim{hc: hc, base: base, key: key}, nil
}

func (p *paysim) setFaults(ctx context.Context, faults string) error {
	var body any
	if err := json.Unmarshal([]byte(faults), &body); err != nil {
		return fmt.Errorf("faults %s: %w", faults, err)
	}
	return send(ctx, p.hc, http.MethodPost, p.base+"/admin/faults", "Bearer "+p.key, body, nil)
}

func (p *paysim) charges(ctx context.Context) (int, error) {
	var st struct {
		Charges int `json:"charges"`
	}
	err := send(ctx, p.hc, http.MethodGet, p.base+"/v1/stats", "", nil, &st)
	return st.Charges, err
}
