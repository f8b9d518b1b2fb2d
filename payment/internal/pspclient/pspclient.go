// Package pspclient talks to the external payment provider over HTTPS with
// the dedicated, tuned HTTP client of seed rule 3: explicit timeouts, a
// pooled keep-alive transport, and an Idempotency-Key on every charge.
package pspclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/shopmesh/shopmesh/payment/internal/payment"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

// maxResponse bounds how much of a provider answer is read.
const maxResponse = 1 << 20

// Client is a payment.Provider over the provider's REST API.
type Client struct {
	http    *http.Client
	baseURL *url.URL
	apiKey  string
}

var _ payment.Provider = (*Client)(nil)

// New returns a Client for the provider at baseURL. hc must come from
// httpclient.New; it is the provider's own client, shared by no one else.
func New(hc *http.Client, baseURL, apiKey string) (*Client, error) {
	if hc == nil {
		return nil, errors.New("pspclient: nil http client")
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("pspclient: provider URL %q: want http(s)://host[:port]", baseURL)
	}
	return &Client{http: hc, baseURL: u, apiKey: apiKey}, nil
}

// ChargeRequest is the body of POST /v1/charges.
type ChargeRequest struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Source   string `json:"source"`
}

// ChargeResponse is the provider's charge object.
type ChargeResponse struct {
	ID            string `json:"id"`
	Status        string `json:"status"` // "succeeded" or "declined"
	DeclineReason string `json:"decline_reason,omitempty"`
}

// Charge implements payment.Provider.
func (c *Client) Charge(ctx context.Context, idempotencyKey string, amount payment.Money, token string) (payment.Charge, error) {
	var out ChargeResponse
	body := ChargeRequest{Amount: amount.Minor, Currency: strings.ToLower(amount.Currency), Source: token}
	if err := c.post(ctx, "/v1/charges", idempotencyKey, body, &out); err != nil {
		return payment.Charge{}, err
	}
	switch out.Status {
	case "succeeded":
		return payment.Charge{ID: out.ID}, nil
	case "declined":
		return payment.Charge{ID: out.ID, Declined: true, DeclineReason: out.DeclineReason}, nil
	}
	return payment.Charge{}, fmt.Errorf("charge: unexpected status %q", out.Status)
}

// Refund implements payment.Provider.
func (c *Client) Refund(ctx context.Context, idempotencyKey, chargeID string) error {
	return c.post(ctx, "/v1/refunds", idempotencyKey, map[string]string{"charge": chargeID}, nil)
}

func (c *Client) post(ctx context.Context, path, idempotencyKey string, in, out any) error {
	payload, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL.JoinPath(path).String(), bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("request %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", idempotencyKey)
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer httpclient.DrainAndClose(resp.Body)
	// A decline is a 402 carrying a charge object; anything else outside 2xx
	// leaves the outcome unknown to us.
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusPaymentRequired {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(msg))
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(out); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}
