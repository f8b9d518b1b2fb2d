package tlsconf_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf/devpki"
)

func TestLoad(t *testing.T) {
	t.Parallel()

	t.Run("valid identity", func(t *testing.T) {
		t.Parallel()
		dir := newPKI(t, "order")
		id, err := tlsconf.Load(dir, "order")
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if got := id.Service(); got != "order" {
			t.Errorf("Service() = %q, want %q", got, "order")
		}
	})

	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		for _, name := range []string{"ca.pem", "order.pem", "order-key.pem"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				dir := newPKI(t, "order")
				if err := os.Remove(filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
				_, err := tlsconf.Load(dir, "order")
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Load error = %v, want fs.ErrNotExist", err)
				}
				if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, name)) {
					t.Errorf("Load error = %v, want it to name %s", err, name)
				}
			})
		}
	})

	// Each case breaks a valid PKI for "order" and expects Load to say so.
	tests := []struct {
		name    string
		breakIt func(t *testing.T, dir string)
		wantErr string
	}{
		{
			name: "certificate of another service",
			breakIt: func(t *testing.T, dir string) {
				copyFile(t, filepath.Join(dir, "payment.pem"), filepath.Join(dir, "order.pem"))
				copyFile(t, filepath.Join(dir, "payment-key.pem"), filepath.Join(dir, "order-key.pem"))
			},
			wantErr: "is spiffe://shopmesh/payment, want spiffe://shopmesh/order",
		},
		{
			name: "key of another service",
			breakIt: func(t *testing.T, dir string) {
				copyFile(t, filepath.Join(dir, "payment-key.pem"), filepath.Join(dir, "order-key.pem"))
			},
			wantErr: "private key does not match public key",
		},
		{
			name: "CA of another PKI",
			breakIt: func(t *testing.T, dir string) {
				copyFile(t, filepath.Join(newPKI(t, "order"), "ca.pem"), filepath.Join(dir, "ca.pem"))
			},
			wantErr: "certificate signed by unknown authority",
		},
		{
			name: "CA file without a certificate",
			breakIt: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "ca.pem"), []byte("not PEM\n"))
			},
			wantErr: "no PEM certificate in",
		},
		{
			name: "expired certificate",
			breakIt: func(t *testing.T, dir string) {
				// Remove the current CA so Generate makes a new, long-expired one.
				if err := os.Remove(filepath.Join(dir, "ca.pem")); err != nil {
					t.Fatal(err)
				}
				old := time.Now().Add(-2 * devpki.Validity)
				if _, err := devpki.Generate(dir, []devpki.Leaf{{Name: "order"}}, devpki.Options{Now: old}); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "expired",
		},
		{
			name: "no SPIFFE ID",
			breakIt: func(t *testing.T, dir string) {
				mintLeaf(t, dir, "order", &x509.Certificate{
					Subject:     pkix.Name{CommonName: "order"},
					DNSNames:    []string{"order"},
					ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
				})
			},
			wantErr: "no spiffe:// URI SAN",
		},
		{
			name: "foreign trust domain",
			breakIt: func(t *testing.T, dir string) {
				mintLeaf(t, dir, "order", &x509.Certificate{
					URIs:        []*url.URL{{Scheme: "spiffe", Host: "example.org", Path: "/order"}},
					ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
				})
			},
			wantErr: `not in trust domain "shopmesh"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := newPKI(t, "order", "payment")
			tt.breakIt(t, dir)
			_, err := tlsconf.Load(dir, "order")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Load error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}

	t.Run("invalid service name", func(t *testing.T) {
		t.Parallel()
		dir := newPKI(t, "order")
		for _, name := range []string{"", "..", "../order", "a/b"} {
			if _, err := tlsconf.Load(dir, name); err == nil || !strings.Contains(err.Error(), "invalid service name") {
				t.Errorf("Load(%q) error = %v, want invalid service name", name, err)
			}
		}
	})
}

func TestIdentity_Configs(t *testing.T) {
	t.Parallel()
	id := mustLoad(t, newPKI(t, "order"), "order")
	configs := map[string]*tls.Config{
		"ServerConfig":     id.ServerConfig(),
		"ClientConfig":     id.ClientConfig("inventory"),
		"HostClientConfig": id.HostClientConfig("etcd"),
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			if cfg.MinVersion != tls.VersionTLS13 {
				t.Errorf("MinVersion = %#x, want TLS 1.3", cfg.MinVersion)
			}
		})
	}
	t.Run("fresh config per call", func(t *testing.T) {
		a, b := id.ServerConfig(), id.ServerConfig()
		a.MinVersion = tls.VersionTLS12
		if b.MinVersion != tls.VersionTLS13 {
			t.Error("changing one ServerConfig changed another")
		}
	})
}

func TestIdentity_ClientConfig(t *testing.T) {
	t.Parallel()
	dir := newPKI(t, "order", "inventory", "payment")
	order := mustLoad(t, dir, "order")

	t.Run("server proves the expected identity", func(t *testing.T) {
		t.Parallel()
		inventory := mustLoad(t, dir, "inventory")
		res := handshake(t, inventory.ServerConfig(), order.ClientConfig("inventory"))
		if res.serverErr != nil || res.clientErr != nil {
			t.Fatalf("handshake: server error %v, client error %v; want none", res.serverErr, res.clientErr)
		}
		if v := res.client.Version; v != tls.VersionTLS13 {
			t.Errorf("negotiated version %#x, want TLS 1.3", v)
		}
		if got, err := tlsconf.PeerService(res.server); err != nil || got != "order" {
			t.Errorf("server's PeerService = %q, %v; want %q", got, err, "order")
		}
		// The client checked the identity in VerifyConnection; Go records
		// no verified chain when InsecureSkipVerify is set.
		if _, err := tlsconf.PeerService(res.client); err == nil {
			t.Error("client's PeerService succeeded without a verified chain")
		}
	})

	t.Run("server is another service", func(t *testing.T) {
		t.Parallel()
		payment := mustLoad(t, dir, "payment")
		res := handshake(t, payment.ServerConfig(), order.ClientConfig("inventory"))
		want := "server is spiffe://shopmesh/payment, want spiffe://shopmesh/inventory"
		if res.clientErr == nil || !strings.Contains(res.clientErr.Error(), want) {
			t.Errorf("client error = %v, want one containing %q", res.clientErr, want)
		}
		if res.serverErr == nil {
			t.Error("server error = nil, want the client's alert")
		}
	})

	t.Run("server from another CA", func(t *testing.T) {
		t.Parallel()
		stranger := mustLoad(t, newPKI(t, "inventory"), "inventory")
		res := handshake(t, stranger.ServerConfig(), order.ClientConfig("inventory"))
		want := "certificate signed by unknown authority"
		if res.clientErr == nil || !strings.Contains(res.clientErr.Error(), want) {
			t.Errorf("client error = %v, want one containing %q", res.clientErr, want)
		}
	})

	t.Run("server certificate only for clients", func(t *testing.T) {
		t.Parallel()
		dir := newPKI(t, "order")
		mintLeaf(t, dir, "inventory", &x509.Certificate{
			URIs:        []*url.URL{{Scheme: "spiffe", Host: "shopmesh", Path: "/inventory"}},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		inventory := mustLoad(t, dir, "inventory")
		order := mustLoad(t, dir, "order")
		res := handshake(t, inventory.ServerConfig(), order.ClientConfig("inventory"))
		want := "incompatible key usage"
		if res.clientErr == nil || !strings.Contains(res.clientErr.Error(), want) {
			t.Errorf("client error = %v, want one containing %q", res.clientErr, want)
		}
	})
}

func TestIdentity_ServerConfig(t *testing.T) {
	t.Parallel()
	dir := newPKI(t, "order", "inventory")
	order := mustLoad(t, dir, "order")
	inventory := mustLoad(t, dir, "inventory")

	t.Run("client without certificate", func(t *testing.T) {
		t.Parallel()
		cfg := order.ClientConfig("inventory")
		cfg.GetClientCertificate = nil // and Certificates is empty
		res := handshake(t, inventory.ServerConfig(), cfg)
		if want := "didn't provide a certificate"; res.serverErr == nil || !strings.Contains(res.serverErr.Error(), want) {
			t.Errorf("server error = %v, want one containing %q", res.serverErr, want)
		}
		if want := "certificate required"; res.clientErr == nil || !strings.Contains(res.clientErr.Error(), want) {
			t.Errorf("client error = %v, want one containing %q", res.clientErr, want)
		}
	})

	t.Run("client from another CA", func(t *testing.T) {
		t.Parallel()
		stranger := mustLoad(t, newPKI(t, "order"), "order")
		cfg := stranger.ClientConfig("inventory")
		cfg.VerifyConnection = nil // let the stranger accept our server, so the server decides
		res := handshake(t, inventory.ServerConfig(), cfg)
		if want := "certificate signed by unknown authority"; res.serverErr == nil || !strings.Contains(res.serverErr.Error(), want) {
			t.Errorf("server error = %v, want one containing %q", res.serverErr, want)
		}
		if res.clientErr == nil {
			t.Error("client error = nil, want the server's alert")
		}
	})

	t.Run("client from our CA without SPIFFE ID", func(t *testing.T) {
		t.Parallel()
		dir := newPKI(t, "inventory")
		mintLeaf(t, dir, "tool", &x509.Certificate{
			Subject:     pkix.Name{CommonName: "tool"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "tool.pem"), filepath.Join(dir, "tool-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		inventory := mustLoad(t, dir, "inventory")
		cfg := &tls.Config{
			MinVersion:         tls.VersionTLS13,
			Certificates:       []tls.Certificate{pair},
			InsecureSkipVerify: true, // the server's view is under test
		}
		res := handshake(t, inventory.ServerConfig(), cfg)
		if want := "no spiffe:// URI SAN"; res.serverErr == nil || !strings.Contains(res.serverErr.Error(), want) {
			t.Errorf("server error = %v, want one containing %q", res.serverErr, want)
		}
	})

	t.Run("TLS 1.2 client", func(t *testing.T) {
		t.Parallel()
		cfg := order.ClientConfig("inventory")
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		res := handshake(t, inventory.ServerConfig(), cfg)
		if want := "unsupported versions"; res.serverErr == nil || !strings.Contains(res.serverErr.Error(), want) {
			t.Errorf("server error = %v, want one containing %q", res.serverErr, want)
		}
		if want := "protocol version not supported"; res.clientErr == nil || !strings.Contains(res.clientErr.Error(), want) {
			t.Errorf("client error = %v, want one containing %q", res.clientErr, want)
		}
	})
}

func TestIdentity_HostClientConfig(t *testing.T) {
	t.Parallel()
	dir := newPKI(t, "order", "etcd")
	order := mustLoad(t, dir, "order")
	// A leaf with more DNS names, as etcd's members are reached by.
	if _, err := devpki.Generate(dir, []devpki.Leaf{{Name: "etcd", ExtraDNS: []string{"etcd-0", "etcd-1", "etcd-2"}}}, devpki.Options{}); err != nil {
		t.Fatal(err)
	}
	etcd := mustLoad(t, dir, "etcd")

	for _, name := range []string{"etcd", "etcd-1", "localhost", "127.0.0.1"} {
		t.Run("valid name "+name, func(t *testing.T) {
			t.Parallel()
			res := handshake(t, etcd.ServerConfig(), order.HostClientConfig(name))
			if res.serverErr != nil || res.clientErr != nil {
				t.Fatalf("handshake: server error %v, client error %v; want none", res.serverErr, res.clientErr)
			}
			if got, err := tlsconf.PeerService(res.server); err != nil || got != "order" {
				t.Errorf("server's PeerService = %q, %v; want %q", got, err, "order")
			}
		})
	}

	t.Run("no name for an address", func(t *testing.T) {
		t.Parallel()
		// handshake dials 127.0.0.1, which SNI cannot carry: nothing names
		// the server, and an unnamed server is not accepted.
		res := handshake(t, etcd.ServerConfig(), order.HostClientConfig(""))
		if want := "no server name"; res.clientErr == nil || !strings.Contains(res.clientErr.Error(), want) {
			t.Errorf("client error = %v, want one containing %q", res.clientErr, want)
		}
	})

	t.Run("wrong host name", func(t *testing.T) {
		t.Parallel()
		res := handshake(t, etcd.ServerConfig(), order.HostClientConfig("otelcol"))
		if want := "not otelcol"; res.clientErr == nil || !strings.Contains(res.clientErr.Error(), want) {
			t.Errorf("client error = %v, want one containing %q", res.clientErr, want)
		}
	})

	t.Run("server from another CA", func(t *testing.T) {
		t.Parallel()
		stranger := mustLoad(t, newPKI(t, "etcd"), "etcd")
		res := handshake(t, stranger.ServerConfig(), order.HostClientConfig("etcd"))
		if want := "certificate signed by unknown authority"; res.clientErr == nil || !strings.Contains(res.clientErr.Error(), want) {
			t.Errorf("client error = %v, want one containing %q", res.clientErr, want)
		}
	})
}
