package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// TrustDomain is the SPIFFE trust domain of every shopmesh identity. A
// certificate naming another trust domain is not a shopmesh workload, even if
// some CA we trust signed it.
const TrustDomain = "shopmesh"

// SPIFFEID returns the URI SAN that names service in a certificate:
// "spiffe://shopmesh/" + service.
func SPIFFEID(service string) string {
	return "spiffe://" + TrustDomain + "/" + service
}

// PeerService returns the service name in the SPIFFE ID of the peer's
// verified leaf certificate. It reads cs.VerifiedChains only, never the raw
// PeerCertificates, so an identity the handshake did not verify cannot be
// used for authorisation.
//
// On a server built from ServerConfig the chain is always verified. On a
// client built from ClientConfig, Go leaves VerifiedChains empty (the check
// runs in VerifyConnection, see ClientConfig) and PeerService returns an
// error; there the peer's identity is already known to be the one asked for.
//
// It returns an error when there is no verified certificate, when the leaf
// carries no SPIFFE ID or more than one, or when the ID belongs to another
// trust domain or is not of the form spiffe://shopmesh/<service>.
func PeerService(cs tls.ConnectionState) (string, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", errors.New("peer service: no verified peer certificate")
	}
	service, err := serviceFromCert(cs.VerifiedChains[0][0])
	if err != nil {
		return "", fmt.Errorf("peer service: %w", err)
	}
	return service, nil
}

// serviceFromCert extracts the service name from cert's one SPIFFE ID. It
// does not verify cert; callers do that first.
func serviceFromCert(cert *x509.Certificate) (string, error) {
	var ids []string
	for _, u := range cert.URIs {
		if u.Scheme == "spiffe" {
			ids = append(ids, u.String())
		}
	}
	switch len(ids) {
	case 0:
		return "", errors.New("certificate has no spiffe:// URI SAN")
	case 1:
	default:
		// The X.509-SVID spec allows exactly one; with two, which one
		// would we authorise?
		return "", fmt.Errorf("certificate has %d spiffe:// URI SANs, want 1: %s", len(ids), strings.Join(ids, ", "))
	}
	id := ids[0]
	prefix := SPIFFEID("")
	if !strings.HasPrefix(id, prefix) {
		return "", fmt.Errorf("certificate identity %s is not in trust domain %q", id, TrustDomain)
	}
	service := strings.TrimPrefix(id, prefix)
	if err := validService(service); err != nil {
		return "", fmt.Errorf("certificate identity %s: %w", id, err)
	}
	return service, nil
}

// validService reports whether name can be a shopmesh service name: one SPIFFE
// path segment, which also makes it a safe file name for Load.
func validService(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("invalid service name %q", name)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_'
		if !ok {
			return fmt.Errorf("invalid service name %q: only letters, digits, '-', '.' and '_' are allowed", name)
		}
	}
	return nil
}
