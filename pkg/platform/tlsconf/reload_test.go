package tlsconf_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf/devpki"
)

func TestIdentity_Reload(t *testing.T) {
	t.Parallel()

	t.Run("a re-issued leaf is presented by the next handshake", func(t *testing.T) {
		t.Parallel()
		dir := newPKI(t, "order", "payment")
		order, payment := mustLoad(t, dir, "order"), mustLoad(t, dir, "payment")
		before := presented(t, payment, order)

		reissue(t, dir, "payment")
		if changed, err := payment.Reload(); !changed || err != nil {
			t.Fatalf("Reload after re-issue = %v, %v; want true, nil", changed, err)
		}
		if changed, err := payment.Reload(); changed || err != nil {
			t.Fatalf("second Reload = %v, %v; want false, nil (nothing changed)", changed, err)
		}
		after := presented(t, payment, order)
		if after.Equal(before) {
			t.Fatal("server still presents the old certificate after Reload")
		}
		if want := readLeaf(t, filepath.Join(dir, "payment.pem")); !after.Equal(want) {
			t.Error("server presents a certificate that is not the one on disk")
		}
	})

	t.Run("a broken file keeps the current identity", func(t *testing.T) {
		t.Parallel()
		dir := newPKI(t, "order", "payment")
		order, payment := mustLoad(t, dir, "order"), mustLoad(t, dir, "payment")
		before := presented(t, payment, order)

		// Half a rotation: a new certificate beside the old key.
		other := newPKI(t, "payment")
		copyFile(t, filepath.Join(other, "payment.pem"), filepath.Join(dir, "payment.pem"))
		if changed, err := payment.Reload(); changed || err == nil || !strings.Contains(err.Error(), "pair") {
			t.Fatalf("Reload of a mismatched pair = %v, %v; want false and an error naming the pairing", changed, err)
		}
		if !presented(t, payment, order).Equal(before) {
			t.Error("a failed Reload changed the presented certificate")
		}
	})

	t.Run("an expired or not yet valid certificate is not loaded", func(t *testing.T) {
		t.Parallel()
		for name, valid := range map[string][2]time.Time{
			"expired":       {time.Now().Add(-2 * time.Hour), time.Now().Add(-time.Hour)},
			"not yet valid": {time.Now().Add(time.Hour), time.Now().Add(2 * time.Hour)},
		} {
			dir := newPKI(t, "payment")
			payment := mustLoad(t, dir, "payment")
			mintLeafValid(t, dir, "payment", spiffeLeaf("payment"), valid[0], valid[1])
			if changed, err := payment.Reload(); changed || err == nil || !strings.Contains(err.Error(), "expired or is not yet valid") {
				t.Errorf("%s: Reload = %v, %v; want false and a validity error", name, changed, err)
			}
		}
	})
}

// TestIdentity_refusesPeersOutsideTheirValidity: a peer whose certificate
// has expired, or is not valid yet, is refused by both ends, although its
// certificate is from the right CA and names a shopmesh service.
func TestIdentity_refusesPeersOutsideTheirValidity(t *testing.T) {
	t.Parallel()
	for name, valid := range map[string][2]time.Time{
		"expired":       {time.Now().Add(-2 * time.Hour), time.Now().Add(-time.Hour)},
		"not yet valid": {time.Now().Add(time.Hour), time.Now().Add(2 * time.Hour)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := newPKI(t, "order", "payment")
			order, payment := mustLoad(t, dir, "order"), mustLoad(t, dir, "payment")
			// A pair Load would refuse, used as a raw tls.Config.
			mintLeafValid(t, dir, "stale", spiffeLeaf("payment"), valid[0], valid[1])
			stale, err := tls.LoadX509KeyPair(filepath.Join(dir, "stale.pem"), filepath.Join(dir, "stale-key.pem"))
			if err != nil {
				t.Fatal(err)
			}
			const want = "expired or is not yet valid"

			server := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{stale}, ClientAuth: tls.RequireAnyClientCert}
			if res := handshake(t, server, order.ClientConfig("payment")); res.clientErr == nil || !strings.Contains(res.clientErr.Error(), want) {
				t.Errorf("client of a %s server: error %v, want one containing %q", name, res.clientErr, want)
			}
			client := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{stale}, InsecureSkipVerify: true}
			if res := handshake(t, payment.ServerConfig(), client); res.serverErr == nil || !strings.Contains(res.serverErr.Error(), want) {
				t.Errorf("server called by a %s client: error %v, want one containing %q", name, res.serverErr, want)
			}
		})
	}
}

// TestIdentity_WatchRotatesUnderTraffic re-issues both ends' certificates
// twice while a client connects to a server without pause, each watching
// its files: every handshake succeeds, and the server ends up presenting
// the last certificate written.
func TestIdentity_WatchRotatesUnderTraffic(t *testing.T) {
	t.Parallel()
	dir := newPKI(t, "order", "payment")
	order, payment := mustLoad(t, dir, "order"), mustLoad(t, dir, "payment")
	logger := slog.New(slog.DiscardHandler)
	defer order.Watch(5*time.Millisecond, logger)()
	defer payment.Watch(5*time.Millisecond, logger)()

	addr := serve(t, payment.ServerConfig())
	var ok, failed atomic.Int64
	var lastErr atomic.Value
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := dial(addr, order.ClientConfig("payment")); err != nil {
				failed.Add(1)
				lastErr.Store(err)
			} else {
				ok.Add(1)
			}
		}
	})
	// Traffic before, between and after the rotations, counted in
	// handshakes rather than time, so a slow machine tests as much.
	moreHandshakes := func(n int64) {
		for target := ok.Load() + n; ok.Load() < target && failed.Load() == 0; {
			time.Sleep(time.Millisecond)
		}
	}
	for range 2 {
		moreHandshakes(5)
		if _, err := devpki.Generate(dir, devpki.Named("order", "payment"), devpki.Options{Reissue: true}); err != nil {
			t.Fatal(err)
		}
	}
	want := readLeaf(t, filepath.Join(dir, "payment.pem"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := dial(addr, order.ClientConfig("payment"))
		if err == nil && got.Equal(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server does not present the re-issued certificate 10 s after the rotation (last dial error %v)", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	moreHandshakes(5)
	close(done)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d handshakes failed (last: %v), %d succeeded; want none failed", failed.Load(), lastErr.Load(), ok.Load())
	}
	t.Logf("%d handshakes across two rotations, none failed", ok.Load())
}

// TestIdentity_ReloadRotatesTheCA walks a CA rotation as an operator does
// it, with both processes reloading after each step and a handshake in
// between: trust both CAs, move each leaf to the new CA, then trust only
// the new one. No step breaks a handshake.
func TestIdentity_ReloadRotatesTheCA(t *testing.T) {
	t.Parallel()
	dir := newPKI(t, "order", "payment")
	next := newPKI(t, "order", "payment") // the new CA and its leaves
	order, payment := mustLoad(t, dir, "order"), mustLoad(t, dir, "payment")
	oldCA, newCA := readFile(t, filepath.Join(dir, "ca.pem")), readFile(t, filepath.Join(next, "ca.pem"))
	// payment as it was, for a process that missed the rotation.
	retired := t.TempDir()
	writeFile(t, filepath.Join(retired, "ca.pem"), oldCA)
	copyPair(t, dir, retired, "payment")

	steps := []struct {
		name  string
		apply func()
	}{
		{"trust both CAs", func() { writeFile(t, filepath.Join(dir, "ca.pem"), append(bytes.Clone(oldCA), newCA...)) }},
		{"payment's leaf from the new CA", func() { copyPair(t, next, dir, "payment") }},
		{"order's leaf from the new CA", func() { copyPair(t, next, dir, "order") }},
		{"trust only the new CA", func() { writeFile(t, filepath.Join(dir, "ca.pem"), newCA) }},
	}
	for _, step := range steps {
		step.apply()
		for _, id := range []*tlsconf.Identity{order, payment} {
			if _, err := id.Reload(); err != nil {
				t.Fatalf("after %q: Reload of %s: %v", step.name, id.Service(), err)
			}
		}
		if res := handshake(t, payment.ServerConfig(), order.ClientConfig("payment")); res.serverErr != nil || res.clientErr != nil {
			t.Fatalf("after %q: server error %v, client error %v", step.name, res.serverErr, res.clientErr)
		}
	}
	// And the old CA is gone: a peer still holding a leaf from it is refused.
	res := handshake(t, mustLoad(t, retired, "payment").ServerConfig(), order.ClientConfig("payment"))
	if want := "unknown authority"; res.clientErr == nil || !strings.Contains(res.clientErr.Error(), want) {
		t.Errorf("server with a leaf from the retired CA: client error %v, want one containing %q", res.clientErr, want)
	}
}

// presented returns the certificate server presents to client's handshake.
func presented(t *testing.T, server, client *tlsconf.Identity) *x509.Certificate {
	t.Helper()
	res := handshake(t, server.ServerConfig(), client.ClientConfig(server.Service()))
	if res.serverErr != nil || res.clientErr != nil {
		t.Fatalf("handshake: server error %v, client error %v", res.serverErr, res.clientErr)
	}
	return res.client.PeerCertificates[0]
}

// serve accepts TLS connections with cfg until the test ends, completing
// each handshake and answering one byte; it returns the address.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				tc := tls.Server(conn, cfg)
				if tc.Handshake() == nil {
					_, _ = tc.Write([]byte{1})
				}
			})
		}
	})
	return ln.Addr().String()
}

// dial makes one TLS connection to addr, waits for the server's byte (in
// TLS 1.3 a refused client certificate shows only there) and returns the
// server's certificate.
func dial(addr string, cfg *tls.Config) (*x509.Certificate, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(conn, cfg)
	if _, err := tc.Read(make([]byte, 1)); err != nil {
		return nil, err
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("no server certificate")
	}
	return certs[0], nil
}

// reissue gives name a new key and certificate from the CA in dir.
func reissue(t *testing.T, dir, name string) {
	t.Helper()
	if _, err := devpki.Generate(dir, devpki.Named(name), devpki.Options{Reissue: true}); err != nil {
		t.Fatal(err)
	}
}

// copyPair copies name's certificate and key from one PKI directory to
// another, key first as devpki writes them.
func copyPair(t *testing.T, from, to, name string) {
	t.Helper()
	copyFile(t, filepath.Join(from, name+"-key.pem"), filepath.Join(to, name+"-key.pem"))
	copyFile(t, filepath.Join(from, name+".pem"), filepath.Join(to, name+".pem"))
}

func readLeaf(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(path, strings.TrimSuffix(path, ".pem")+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	return cert.Leaf
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
