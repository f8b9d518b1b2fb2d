// Package pspclient talks to the external payment provider over HTTPS with
// the dedicated, tuned HTTP client of seed rule 3: explicit timeouts, a
// pooled keep-alive transport, retries of idempotent requests only, a
// circuit breaker, and an Idempotency-Key on every charge and refund.
//
// It sorts the provider's answers into the three kinds the payment domain
// keeps apart: a decline (a 402 with a charge object) is an answer; a
// refusal for any other reason (400, 404, 422…) is a *payment.RejectedError;
// everything else — no answer, a 5xx, a 401/403/409/429, a body it cannot
// read, an open circuit (payment.ErrProviderDown) — leaves the outcome
// unknown and is a plain error.
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

// RefundResponse is the provider's refund object.
type RefundResponse struct {
	ID     string `json:"id"`
	Status string `json:"status"` // "succeeded"
}

// Charge implements payment.Provider.
func (c *Client) Charge(ctx context.Context, idempotencyKey string, amount payment.Money, token string) (payment.Charge, error) {
	var out ChargeResponse
	body := ChargeRequest{Amount: amount.Minor, Currency: strings.ToLower(amount.Currency), Source: token}
	if err := c.do(ctx, http.MethodPost, "/v1/charges", nil, idempotencyKey, body, &out); err != nil {
		return payment.Charge{}, err
	}
	return toCharge(out)
}

// FindCharge implements payment.Provider.
func (c *Client) FindCharge(ctx context.Context, idempotencyKey string) (payment.Charge, error) {
	var out ChargeResponse
	q := url.Values{"idempotency_key": {idempotencyKey}}
	if err := c.do(ctx, http.MethodGet, "/v1/charges", q, "", nil, &out); err != nil {
		return payment.Charge{}, err
	}
	return toCharge(out)
}

// Refund implements payment.Provider.
func (c *Client) Refund(ctx context.Context, idempotencyKey, chargeID string) (payment.Refund, error) {
	var out RefundResponse
	if err := c.do(ctx, http.MethodPost, "/v1/refunds", nil, idempotencyKey, map[string]string{"charge": chargeID}, &out); err != nil {
		return payment.Refund{}, err
	}
	return toRefund(out)
}

// FindRefund implements payment.Provider.
func (c *Client) FindRefund(ctx context.Context, idempotencyKey string) (payment.Refund, error) {
	var out RefundResponse
	q := url.Values{"idempotency_key": {idempotencyKey}}
	if err := c.do(ctx, http.MethodGet, "/v1/refunds", q, "", nil, &out); err != nil {
		return payment.Refund{}, err
	}
	return toRefund(out)
}

func toCharge(out ChargeResponse) (payment.Charge, error) {
	if out.ID == "" {
		return payment.Charge{}, errors.New("charge: answer without an id")
	}
	switch out.Status {
	case "succeeded":
		return payment.Charge{ID: out.ID}, nil
	case "declined":
		return payment.Charge{ID: out.ID, Declined: true, DeclineReason: out.DeclineReason}, nil
	}
	return payment.Charge{}, fmt.Errorf("charge %s: unexpected status %q", out.ID, out.Status)
}

func toRefund(out RefundResponse) (payment.Refund, error) {
	if out.ID == "" || out.Status != "succeeded" {
		return payment.Refund{}, fmt.Errorf("refund %q: unexpected status %q", out.ID, out.Status)
	}
	return payment.Refund{ID: out.ID}, nil
}

// do sends one request (the client retries it if that is safe) and
// decodes a 2xx or 402 answer into out. A POST carries idempotencyKey; a
// GET's 404 is payment.ErrNotFound.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, idempotencyKey string, in, out any) error {
	u := c.baseURL.JoinPath(path)
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		payload, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
		body = bytes.NewReader(payload) // NewRequest sets GetBody: a retry can resend it
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("request %s: %w", path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idempotencyKey != "" {
		req.Header.Set(httpclient.IdempotencyKeyHeader, idempotencyKey)
	}
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(req) //nolint:bodyclose // closed by httpclient.DrainAndClose below
	if errors.Is(err, httpclient.ErrCircuitOpen) {
		return fmt.Errorf("%s %s: %w: %w", method, path, payment.ErrProviderDown, err)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer httpclient.DrainAndClose(resp.Body)

	switch {
	case resp.StatusCode/100 == 2, resp.StatusCode == http.StatusPaymentRequired:
		// A decline is a 402 carrying a charge object.
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(out); err != nil {
			return fmt.Errorf("decode %s %s: %w", method, path, err)
		}
		return nil
	case method == http.MethodGet && resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s %s: %w", method, path, payment.ErrNotFound)
	case final(resp.StatusCode):
		return &payment.RejectedError{Status: resp.StatusCode, Reason: reason(resp)}
	}
	return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, reason(resp))
}

// final reports whether a 4xx answer means the provider refused the request
// itself, so nothing was done and a repeat would be refused again. Not
// final: 401/403 (our credentials: nothing done, but fixable by an
// operator, so the order should wait, not fail), 408/429 (try later), 409
// (the key was used with another body: what that request did is for a
// lookup to say).
func final(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout,
		http.StatusConflict, http.StatusTooManyRequests:
		return false
	}
	return status >= 400 && status < 500
}

// reason is the provider's explanation from an error answer's body.
func reason(resp *http.Response) string {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		return e.Error
	}
	if s := strings.TrimSpace(string(raw)); s != "" {
		return s
	}
	return resp.Status
}
