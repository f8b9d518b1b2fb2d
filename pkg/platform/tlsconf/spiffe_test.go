package tlsconf_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"strings"
	"testing"

	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
)

func TestSPIFFEID(t *testing.T) {
	t.Parallel()
	if got, want := tlsconf.SPIFFEID("order"), "spiffe://shopmesh/order"; got != want {
		t.Errorf("SPIFFEID(order) = %q, want %q", got, want)
	}
}

func TestPeerService(t *testing.T) {
	t.Parallel()
	// verified builds the state of a handshake whose verified leaf carries uris.
	verified := func(uris ...string) tls.ConnectionState {
		leaf := &x509.Certificate{}
		for _, s := range uris {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			leaf.URIs = append(leaf.URIs, u)
		}
		return tls.ConnectionState{
			PeerCertificates: []*x509.Certificate{leaf},
			VerifiedChains:   [][]*x509.Certificate{{leaf}},
		}
	}
	tests := []struct {
		name    string
		cs      tls.ConnectionState
		want    string
		wantErr string
	}{
		{"shopmesh service", verified("spiffe://shopmesh/payment"), "payment", ""},
		{"other URIs ignored", verified("https://example.org/x", "spiffe://shopmesh/order"), "order", ""},
		{"no SPIFFE ID", verified("https://example.org/x"), "", "no spiffe:// URI SAN"},
		{"two SPIFFE IDs", verified("spiffe://shopmesh/order", "spiffe://shopmesh/payment"), "", "2 spiffe:// URI SANs"},
		{"foreign trust domain", verified("spiffe://example.org/order"), "", "not in trust domain"},
		{"nested path", verified("spiffe://shopmesh/ns/order"), "", "invalid service name"},
		{"empty path", verified("spiffe://shopmesh/"), "", "invalid service name"},
		{"query", verified("spiffe://shopmesh/order?x=1"), "", "invalid service name"},
		{"no certificate", tls.ConnectionState{}, "", "no verified peer certificate"},
		{
			name: "unverified certificate",
			cs: tls.ConnectionState{PeerCertificates: []*x509.Certificate{{
				URIs: []*url.URL{{Scheme: "spiffe", Host: "shopmesh", Path: "/order"}},
			}}},
			wantErr: "no verified peer certificate",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tlsconf.PeerService(tt.cs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("PeerService = %q, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("PeerService = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
