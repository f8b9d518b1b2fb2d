// Package httpclient stands for shopmesh's: the one place that builds
// clients and transports.
package httpclient

import "net/http"

func New() *http.Client {
	return &http.Client{Transport: &http.Transport{}}
}

func base() http.RoundTripper { return http.DefaultTransport }

func stillNot() { _, _ = http.Get("https://x.example") } // want `tunedhttp \(rule 3\): http.Get uses the default client`
