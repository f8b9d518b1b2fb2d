package svc

import (
	"context"
	"net/http"
	"time"
)

func defaults() {
	_, _ = http.Get("https://psp.example")           // want `tunedhttp \(rule 3\): http.Get uses the default client`
	_, _ = http.Post("https://psp.example", "", nil) // want `tunedhttp \(rule 3\): http.Post uses the default client`
	_, _ = http.Head("https://psp.example")          // want `tunedhttp \(rule 3\): http.Head uses the default client`
	_, _ = http.PostForm("https://psp.example", nil) // want `tunedhttp \(rule 3\): http.PostForm uses the default client`
	_ = http.DefaultClient                           // want `tunedhttp \(rule 3\): http.DefaultClient has no timeouts`
	_ = http.DefaultTransport                        // want `tunedhttp \(rule 3\): http.DefaultTransport has no timeouts`
	_ = &http.Client{Timeout: time.Second}           // want `tunedhttp \(rule 3\): an http.Client built by hand`
	_ = http.Client{}                                // want `tunedhttp \(rule 3\): an http.Client built by hand`
	_ = &http.Transport{}                            // want `tunedhttp \(rule 3\): an http.Transport built by hand`
	_, _ = http.NewRequest(http.MethodGet, "/", nil) // want `tunedhttp \(rule 3\): http.NewRequest drops the caller's context`
}

func allowed(ctx context.Context, c *http.Client) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://psp.example", nil)
	_, _ = c.Do(req)
	_ = &http.Server{ReadHeaderTimeout: time.Second}
	_ = http.DefaultClient //shopmesh:allow tunedhttp a test double compares against the default on purpose
}
