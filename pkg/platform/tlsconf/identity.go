package tlsconf

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Identity is this process's certificate and the CA bundle it trusts, read
// by Load and re-read by Reload (or Watch) when the files change. Its
// methods build fresh *tls.Config values, so callers may modify what they
// get without affecting each other; every configuration reads the current
// certificate and bundle at each handshake, so a reload reaches every
// connection made after it, and established connections keep theirs.
type Identity struct {
	service, dir string
	current      atomic.Pointer[material]
}

// material is one consistent reading of an identity's files.
type material struct {
	cert  tls.Certificate
	roots *x509.CertPool
	// digest is of the files read, so that Reload notices a change.
	digest [3][sha256.Size]byte
}

// Load reads the identity of service from dir: the CA bundle from dir/ca.pem
// (one or more CA certificates, all trusted), the certificate from
// dir/<service>.pem and its key from dir/<service>-key.pem.
//
// It returns an error naming the file when one is missing or unreadable, when
// the key does not match the certificate, when the certificate does not chain
// to the CA (or has expired, or is not valid yet), and when it does not carry
// exactly the identity SPIFFEID(service): a process that would present the
// wrong name should not start.
func Load(dir, service string) (*Identity, error) {
	if err := validService(service); err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	id := &Identity{service: service, dir: dir}
	if _, err := id.Reload(); err != nil {
		return nil, err
	}
	return id, nil
}

// Reload reads the identity's files again and, when they changed and hold a
// valid identity (as Load checks it), makes it the one every later handshake
// uses. It reports whether the identity changed. On error the current
// identity stays: a rotation caught half-written (a new certificate beside
// the old key) fails to pair, and the next Reload, after the last file is
// in place, succeeds.
func (id *Identity) Reload() (changed bool, err error) {
	files, err := readFiles(id.dir, id.service)
	if err != nil {
		return false, err
	}
	d := digest(files)
	if cur := id.current.Load(); cur != nil && cur.digest == d {
		return false, nil
	}
	m, err := parse(id.dir, id.service, files)
	if err != nil {
		return false, err
	}
	m.digest = d
	id.current.Store(m)
	return true, nil
}

// NotAfter returns when the current certificate expires.
func (id *Identity) NotAfter() time.Time { return id.current.Load().cert.Leaf.NotAfter }

// Watch calls Reload every interval until the returned stop is called, and
// logs each change (with the new certificate's expiry) and each failure; a
// failure keeps the current identity. stop waits for the watcher to end.
// Polling rather than file events: it sees a Kubernetes Secret's symlink
// swap and a bind-mounted directory's rename alike, and three small reads an
// interval cost nothing.
func (id *Identity) Watch(interval time.Duration, logger *slog.Logger) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			switch changed, err := id.Reload(); {
			case err != nil:
				logger.Warn("TLS identity not reloaded; keeping the current one", "dir", id.dir, "error", err)
			case changed:
				logger.Info("TLS identity reloaded", "dir", id.dir, "not_after", id.NotAfter())
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		<-exited
	}
}

// readFiles reads the CA bundle, the certificate and the key of service.
func readFiles(dir, service string) (files [3][]byte, err error) {
	for i, f := range []struct{ what, name string }{
		{"CA certificate", "ca.pem"}, {"certificate", service + ".pem"}, {"private key", service + "-key.pem"},
	} {
		// os errors already name the file; the prefix says what it was for.
		if files[i], err = os.ReadFile(filepath.Join(dir, f.name)); err != nil {
			return files, fmt.Errorf("load identity %q: read %s: %w", service, f.what, err)
		}
	}
	return files, nil
}

// parse checks the files readFiles read and returns the identity they hold
// (its digest left to the caller, who has it).
func parse(dir, service string, files [3][]byte) (*material, error) {
	caFile := filepath.Join(dir, "ca.pem")
	certFile := filepath.Join(dir, service+".pem")
	keyFile := filepath.Join(dir, service+"-key.pem")

	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(files[0]) {
		return nil, fmt.Errorf("load identity %q: read CA certificate: no PEM certificate in %s", service, caFile)
	}
	cert, err := tls.X509KeyPair(files[1], files[2])
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
	return &material{cert: cert, roots: roots}, nil
}

// digest fingerprints the files readFiles read, for Reload to tell a
// change.
func digest(files [3][]byte) (d [3][sha256.Size]byte) {
	for i, f := range files {
		d[i] = sha256.Sum256(f)
	}
	return d
}

// Service returns the service name this identity proves.
func (id *Identity) Service() string { return id.service }

// ServerConfig returns the configuration for a shopmesh gRPC server: TLS 1.3,
// this identity's certificate, and a client certificate that is required,
// chains to the CA and carries a shopmesh SPIFFE ID. Which service may call
// which method is not decided here but by the caller of PeerService.
func (id *Identity) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Each handshake gets the configuration of the identity current
		// then, so a reloaded certificate or CA bundle applies to the next
		// connection without a restart.
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return id.current.Load().serverConfig(), nil
		},
	}
}

func (m *material) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{m.cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    m.roots,
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
		ServerName:           serverName,
		// Go's verification would check against the RootCAs fixed here, and
		// a reloaded CA bundle would never reach the etcd client or the
		// provider's client, which keep the configuration they were given.
		// VerifyConnection does the same check against the current bundle,
		// by the name the handshake was for.
		InsecureSkipVerify: true, //nolint:gosec // G402: VerifyConnection checks the chain and the host name instead
		VerifyConnection: func(cs tls.ConnectionState) error {
			name := serverName
			if name == "" {
				name = cs.ServerName // what the dialling library filled in
			}
			return id.verifyHost(cs, name)
		},
	}
}

// clientCertificate presents this identity whatever the server asked for.
// Go's default picks a certificate from tls.Config.Certificates only if it
// matches the CAs the server lists and otherwise sends none, which turns "our
// CA differs from yours" into a misleading "client didn't provide a
// certificate" in the server's log.
func (id *Identity) clientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return &id.current.Load().cert, nil
}

// verifyHost does for HostClientConfig what InsecureSkipVerify turned off:
// the server's chain against the current CA bundle, for server
// authentication, and name, the host name or IP address the connection was
// made for. A server dialled by IP address without an explicit name has no
// name in the handshake (SNI carries none), and is refused rather than
// accepted unnamed.
func (id *Identity) verifyHost(cs tls.ConnectionState, name string) error {
	if name == "" {
		return errors.New("verify server: no server name to check the certificate against (dial it by DNS name, or give HostClientConfig one)")
	}
	if _, err := id.verifyServerChain(cs, name); err != nil {
		return fmt.Errorf("verify server %q: %w", name, err)
	}
	return nil
}

// verifyServer does for ClientConfig what InsecureSkipVerify turned off:
// verify the server's chain against the CA for server authentication, then
// require the SPIFFE ID of peer instead of a host name.
func (id *Identity) verifyServer(cs tls.ConnectionState, peer string) error {
	leaf, err := id.verifyServerChain(cs, "")
	if err != nil {
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

// verifyServerChain verifies the server's certificate against the current
// CA bundle for server authentication and, unless dnsName is empty, for
// that name; it returns the server's leaf.
func (id *Identity) verifyServerChain(cs tls.ConnectionState, dnsName string) (*x509.Certificate, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, errors.New("no certificate presented")
	}
	leaf := cs.PeerCertificates[0]
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         id.current.Load().roots,
		Intermediates: intermediatesFrom(cs.PeerCertificates[1:]),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSName:       dnsName,
	})
	return leaf, err
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
