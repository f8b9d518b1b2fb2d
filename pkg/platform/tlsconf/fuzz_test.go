package tlsconf_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"testing"

	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
)

// FuzzPeerService feeds URI SANs to the parser that turns a verified
// certificate into the caller every gRPC rule authorizes: whatever a
// certificate names, it must not panic, and an identity it accepts must be
// exactly spiffe://shopmesh/<service>, the certificate's only SPIFFE ID,
// with a service name that is one safe path segment. `go test` runs the
// seeds; `go test -fuzz FuzzPeerService ./pkg/platform/tlsconf/` explores
// further.
func FuzzPeerService(f *testing.F) {
	for _, seed := range [][2]string{
		{"spiffe://shopmesh/order", ""},
		{"spiffe://shopmesh/order", "spiffe://shopmesh/payment"},
		{"spiffe://shopmesh/order", "https://shopmesh.example/order"},
		{"spiffe://other/order", ""},
		{"spiffe://shopmesh/", ""},
		{"spiffe://shopmesh/..", ""},
		{"spiffe://shopmesh/order/admin", ""},
		{"spiffe://shopmesh/order%2Fadmin", ""},
		{"spiffe://shopmesh/ord%00er", ""},
		{"spiffe://SHOPMESH/order", ""},
		{"SPIFFE://shopmesh/order", ""},
		{"spiffe://shopmesh/order?x=1", ""},
		{"spiffe://shopmesh/order#frag", ""},
		{"spiffe://user@shopmesh/order", ""},
		{"spiffe://shopmesh:443/order", ""},
		{"spiffe:shopmesh/order", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, first, second string) {
		leaf := &x509.Certificate{}
		for _, s := range []string{first, second} {
			if s == "" {
				continue
			}
			u, err := url.Parse(s)
			if err != nil {
				return // a certificate's URI SAN is a parsed URI; x509 would refuse this one
			}
			leaf.URIs = append(leaf.URIs, u)
		}
		service, err := tlsconf.PeerService(tls.ConnectionState{
			PeerCertificates: []*x509.Certificate{leaf},
			VerifiedChains:   [][]*x509.Certificate{{leaf}},
		})
		if err != nil {
			return
		}
		var ids []string
		for _, u := range leaf.URIs {
			if u.Scheme == "spiffe" {
				ids = append(ids, u.String())
			}
		}
		if len(ids) != 1 || ids[0] != tlsconf.SPIFFEID(service) {
			t.Fatalf("URIs %v gave service %q; want exactly one SPIFFE ID, %s", leaf.URIs, service, tlsconf.SPIFFEID(service))
		}
		if service == "" || service == "." || service == ".." {
			t.Fatalf("URIs %v gave service %q, not a name", leaf.URIs, service)
		}
		for _, r := range service {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
				t.Fatalf("URIs %v gave service %q, which holds %q", leaf.URIs, service, r)
			}
		}
	})
}
