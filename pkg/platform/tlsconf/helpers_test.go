package tlsconf_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf/devpki"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newPKI writes a fresh dev PKI for names into a temporary directory.
func newPKI(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	var leaves []devpki.Leaf
	for _, n := range names {
		leaves = append(leaves, devpki.Leaf{Name: n})
	}
	if _, err := devpki.Generate(dir, leaves, devpki.Options{}); err != nil {
		t.Fatalf("generate PKI: %v", err)
	}
	return dir
}

// mustLoad loads service's identity from dir.
func mustLoad(t *testing.T, dir, service string) *tlsconf.Identity {
	t.Helper()
	id, err := tlsconf.Load(dir, service)
	if err != nil {
		t.Fatalf("Load(%q): %v", service, err)
	}
	return id
}

// mintLeaf writes dir/<name>.pem and its key, signed by the CA in dir, from
// tmpl: for certificates devpki would never make.
func mintLeaf(t *testing.T, dir, name string, tmpl *x509.Certificate) {
	t.Helper()
	mintLeafValid(t, dir, name, tmpl, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

// mintLeafValid is mintLeaf for a certificate valid from notBefore to
// notAfter.
func mintLeafValid(t *testing.T, dir, name string, tmpl *x509.Certificate, notBefore, notAfter time.Time) {
	t.Helper()
	ca, err := tls.LoadX509KeyPair(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Leaf, key.Public(), ca.PrivateKey.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(t, filepath.Join(dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, data)
}

// handshakeResult is what each side of one TLS connection saw.
type handshakeResult struct {
	serverErr, clientErr error
	server, client       tls.ConnectionState
}

// handshake connects a client to a server over loopback TCP and reports both
// sides' errors. The server writes one byte after its handshake, and the
// client reads it: in TLS 1.3 the client's Handshake returns before the
// server has judged the client's certificate, so a rejection only shows up on
// the client's first read.
func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) handshakeResult {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var res handshakeResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			res.serverErr = err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		tc := tls.Server(conn, serverCfg)
		if err := tc.Handshake(); err != nil {
			res.serverErr = err
			return
		}
		res.server = tc.ConnectionState()
		_, res.serverErr = tc.Write([]byte{1})
	}()

	res.clientErr = func() error {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		tc := tls.Client(conn, clientCfg)
		if err := tc.Handshake(); err != nil {
			return err
		}
		res.client = tc.ConnectionState()
		_, err = io.ReadFull(tc, make([]byte, 1))
		return err
	}()
	ln.Close() // unblocks Accept if the client never connected
	<-done
	return res
}

// spiffeLeaf is a template for service's certificate as devpki makes it,
// for mintLeafValid.
func spiffeLeaf(service string) *x509.Certificate {
	return &x509.Certificate{
		URIs:        []*url.URL{{Scheme: "spiffe", Host: tlsconf.TrustDomain, Path: "/" + service}},
		DNSNames:    []string{service},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
}
