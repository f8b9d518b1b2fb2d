package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
)

// Identity is this process's certificate and the CA it trusts, loaded once by
// Load. Its methods build fresh *tls.Config values, so callers may modify what
// they get without affecting each other.
type Identity struct {
	service string
	cert    tls.Certificate
	roots   *x509.CertPool
}

// Load reads the identity of service from dir: the CA from dir/ca.pem, the
// certificate from dir/<service>.pem and its key from dir/<service>-key.pem.
//
// It returns an error naming the file when one is missing or unreadable, when
// the key does not match the certificate, when the certificate does not chain
// to the CA (or has expired), and when it does not carry exactly the identity
// SPIFFEID(service): a process that would present the wrong name should not
// start.
func Load(dir, service string) (*Identity, error) {
	if err := validService(service); err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	certFile := filepath.Join(dir, service+".pem")
	keyFile := filepath.Join(dir, service+"-key.pem")

	// os errors already name the file; the prefix says what it was for.
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("load identity %q: read CA certificate: %w", service, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("load identity %q: read CA certificate: no PEM certificate in %s", service, caFile)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("load identity %q: read certificate: %w", service, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("load identity %q: read private key: %w", service, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load identity %q: pair %s with %s: %w", service, certFile, keyFile, err)
	}
	leaf := cert.Leaf // set by X509KeyPair since Go 1.23
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("load identity %q: parse %s: %w", service, certFile, err)
		}
		cert.Leaf = leaf
	}

	// The same certificate serves as client and server, so any extended key
	// usage is fine here; each handshake checks the one its role needs.
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates(cert.Certificate[1:]),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, fmt.Errorf("load identity %q: verify %s against %s: %w", service, certFile, caFile, err)
	}
	got, err := serviceFromCert(leaf)
	if err != nil {
		return nil, fmt.Errorf("load identity %q: %s: %w", service, certFile, err)
	}
	if got != service {
		return nil, fmt.Errorf("load identity %q: %s is %s, want %s", service, certFile, SPIFFEID(got), SPIFFEID(service))
	}
	return &Identity{service: service, cert: cert, roots: roots}, nil
}

// Service returns the service name this identity proves.
func (id *Identity) Service() string { return id.service }

// ServerConfig returns the configuration for a shopmesh gRPC server: TLS 1.3,
// this identity's certificate, and a client certificate that is required,
// chains to the CA and carries a shopmesh SPIFFE ID. Which service may call
// which method is not decided here but by the caller of PeerService.
func (id *Identity) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    id.roots,
		// Refuse a certificate from our CA that names no shopmesh service
		// during the handshake, so that PeerService cannot fail later in a
		// handler and authorisation always has a name to decide on.
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := PeerService(cs)
			return err
		},
	}
}

// ClientConfig returns the configuration for calling the shopmesh service
// peer over gRPC: TLS 1.3, this identity's certificate, and a server that
// must chain to the CA and carry exactly SPIFFEID(peer).
func (id *Identity) ClientConfig(peer string) *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		GetClientCertificate: id.clientCertificate,
		// Peers are dialled by the IP address etcd lists, so there is no
		// host name the server's certificate could match, and Go's default
		// verification would fail (or, with ServerName forced to the service
		// name, prove nothing about the address we dialled). As go-spiffe
		// does, skip Go's host-name-based check and do the whole
		// verification in VerifyConnection: the chain against our CA, then
		// the SPIFFE ID in place of the host name (seed rule 2). Go still
		// checks the handshake signature against the certificate's key, so
		// the server proves it holds the key of the certificate we verify.
		InsecureSkipVerify: true, //nolint:gosec // G402: VerifyConnection checks the chain and the SPIFFE ID instead
		VerifyConnection: func(cs tls.ConnectionState) error {
			return id.verifyServer(cs, peer)
		},
	}
}

// HostClientConfig returns the configuration for a TLS server reached by its
// DNS name, such as etcd, the payment provider simulator or the OpenTelemetry
// collector: TLS 1.3, this identity's certificate, and Go's usual
// verification of the server against the CA and serverName.
//
// An empty serverName leaves the choice to the library that dials (net/http
// and gRPC use the host of the address they were given).
func (id *Identity) HostClientConfig(serverName string) *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		GetClientCertificate: id.clientCertificate,
		RootCAs:              id.roots,
		ServerName:           serverName,
	}
}

// clientCertificate presents this identity whatever the server asked for.
// Go's default picks a certificate from tls.Config.Certificates only if it
// matches the CAs the server lists and otherwise sends none, which turns "our
// CA differs from yours" into a misleading "client didn't provide a
// certificate" in the server's log.
func (id *Identity) clientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return &id.cert, nil
}

// verifyServer does for ClientConfig what InsecureSkipVerify turned off:
// verify the server's chain against the CA for server authentication, then
// require the SPIFFE ID of peer instead of a host name.
func (id *Identity) verifyServer(cs tls.ConnectionState, peer string) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("verify server %q: no certificate presented", peer)
	}
	leaf := cs.PeerCertificates[0]
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         id.roots,
		Intermediates: intermediatesFrom(cs.PeerCertificates[1:]),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return fmt.Errorf("verify server %q: %w", peer, err)
	}
	got, err := serviceFromCert(leaf)
	if err != nil {
		return fmt.Errorf("verify server %q: %w", peer, err)
	}
	if got != peer {
		return fmt.Errorf("verify server %q: server is %s, want %s", peer, SPIFFEID(got), SPIFFEID(peer))
	}
	return nil
}

// intermediates parses the DER certificates that follow a leaf in a
// tls.Certificate. Unparsable ones are skipped: the chain then fails to
// verify, which is the error worth reporting.
func intermediates(ders [][]byte) *x509.CertPool {
	var certs []*x509.Certificate
	for _, der := range ders {
		if c, err := x509.ParseCertificate(der); err == nil {
			certs = append(certs, c)
		}
	}
	return intermediatesFrom(certs)
}

// intermediatesFrom puts certs in a pool for x509.VerifyOptions.
func intermediatesFrom(certs []*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}
