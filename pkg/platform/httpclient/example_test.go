package httpclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

// A service creates one client per external peer at start-up and shares it.
// Each request carries the caller's context, and every response body is
// drained and closed so its connection goes back to the pool.
func ExampleNew() {
	psp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"status":"captured"}`)
	}))
	defer psp.Close()

	client, err := httpclient.New(httpclient.Options{
		Name:    "psp",
		Timeout: 3 * time.Second, // a ceiling; the caller's deadline may be shorter
	})
	if err != nil {
		fmt.Println("create client:", err)
		return
	}
	defer client.CloseIdleConnections()

	// In a handler, ctx is the request's context with this hop's budget.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, psp.URL+"/charges/o-42", nil)
	if err != nil {
		fmt.Println("build request:", err)
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println("get charge:", err)
		return
	}
	defer httpclient.DrainAndClose(resp.Body)

	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		fmt.Println("read charge:", err)
		return
	}
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 {"status":"captured"}
}

// A client for a peer that can fail: idempotent requests are retried within
// the timeout, and once nearly all recent attempts failed the breaker opens, so later
// calls fail at once with ErrCircuitOpen instead of waiting on a dead peer.
func ExampleNew_retryAndBreaker() {
	var hits atomic.Int64
	psp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer psp.Close()

	client, err := httpclient.New(httpclient.Options{
		Name:  "psp",
		Retry: &httpclient.RetryOptions{MaxAttempts: 3, Backoff: time.Millisecond},
		// Open once 3 attempts were made and all of them failed.
		Breaker: &httpclient.BreakerOptions{FailureRatio: 1, MinAttempts: 3, OpenTimeout: 10 * time.Second},
	})
	if err != nil {
		fmt.Println("create client:", err)
		return
	}
	defer client.CloseIdleConnections()

	for range 2 {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, psp.URL+"/v1/charges/ch_1", nil)
		if err != nil {
			fmt.Println("build request:", err)
			return
		}
		resp, err := client.Do(req)
		if errors.Is(err, httpclient.ErrCircuitOpen) {
			fmt.Println("failed fast: circuit open")
			continue
		}
		if err != nil {
			fmt.Println("get charge:", err)
			return
		}
		httpclient.DrainAndClose(resp.Body)
		fmt.Println(resp.StatusCode)
	}
	fmt.Println("requests that reached the peer:", hits.Load())
	// Output:
	// 503
	// failed fast: circuit open
	// requests that reached the peer: 3
}
