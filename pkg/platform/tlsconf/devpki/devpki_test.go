package devpki_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf/devpki"
)

// testLeaves is a small identity table: plain leaves and one with more
// DNS names.
var testLeaves = append(devpki.Named("gateway", "order", "admin"), devpki.Leaf{Name: "etcd", ExtraDNS: []string{"etcd-0", "etcd-1", "etcd-2"}})

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestGenerate_Fresh(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res, err := devpki.Generate(dir, testLeaves, devpki.Options{})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if got, want := len(res.Written), 2+2*len(testLeaves); got != want {
		t.Fatalf("wrote %d files, want %d: %v", got, want, res.Written)
	}
	ca := readCert(t, filepath.Join(dir, "ca.pem"))

	t.Run("CA", func(t *testing.T) {
		if ca.Subject.CommonName != "shopmesh dev CA" || !ca.IsCA {
			t.Errorf("CA is %q (IsCA=%v), want CA %q", ca.Subject.CommonName, ca.IsCA, "shopmesh dev CA")
		}
		if _, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || ca.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256() {
			t.Errorf("CA key is %T, want ECDSA P-256", ca.PublicKey)
		}
		if d := ca.NotAfter.Sub(ca.NotBefore); d < devpki.Validity || d > devpki.Validity+2*time.Hour {
			t.Errorf("CA valid for %v, want about %v", d, devpki.Validity)
		}
		assertMode(t, filepath.Join(dir, "ca-key.pem"), 0o600)
	})

	serials := map[string]string{ca.SerialNumber.String(): "ca"}
	for _, l := range testLeaves {
		t.Run(l.Name, func(t *testing.T) {
			cert := readCert(t, filepath.Join(dir, l.Name+".pem"))
			if other, dup := serials[cert.SerialNumber.String()]; dup {
				t.Errorf("serial %v also used by %s", cert.SerialNumber, other)
			}
			serials[cert.SerialNumber.String()] = l.Name

			if _, err := cert.Verify(x509.VerifyOptions{
				Roots:     poolOf(ca),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}); err != nil {
				t.Errorf("verify as server: %v", err)
			}
			if _, err := cert.Verify(x509.VerifyOptions{
				Roots:     poolOf(ca),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			}); err != nil {
				t.Errorf("verify as client: %v", err)
			}
			if len(cert.URIs) != 1 || cert.URIs[0].String() != "spiffe://shopmesh/"+l.Name {
				t.Errorf("URI SANs %v, want [spiffe://shopmesh/%s]", cert.URIs, l.Name)
			}
			for _, name := range append([]string{l.Name, "localhost"}, l.ExtraDNS...) {
				if err := cert.VerifyHostname(name); err != nil {
					t.Errorf("VerifyHostname(%q): %v", name, err)
				}
			}
			for _, ip := range []string{"127.0.0.1", "::1"} {
				if err := cert.VerifyHostname(ip); err != nil {
					t.Errorf("VerifyHostname(%q): %v", ip, err)
				}
			}
			if cert.NotAfter.After(ca.NotAfter) {
				t.Errorf("leaf expires %v, after its CA (%v)", cert.NotAfter, ca.NotAfter)
			}

			keyPEM, err := os.ReadFile(filepath.Join(dir, l.Name+"-key.pem"))
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
				t.Errorf("key file is not a PKCS#8 PEM block")
			} else if _, err := x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
				t.Errorf("parse PKCS#8 key: %v", err)
			}
			assertMode(t, filepath.Join(dir, l.Name+"-key.pem"), 0o600)
			assertMode(t, filepath.Join(dir, l.Name+".pem"), 0o644)
		})
	}

	t.Run("etcd member names", func(t *testing.T) {
		cert := readCert(t, filepath.Join(dir, "etcd.pem"))
		for _, name := range []string{"etcd", "etcd-0", "etcd-1", "etcd-2"} {
			if !slices.Contains(cert.DNSNames, name) {
				t.Errorf("etcd DNS SANs %v lack %q", cert.DNSNames, name)
			}
		}
	})
}

func TestGenerate_Idempotent(t *testing.T) {
	t.Parallel()
	leaves := []devpki.Leaf{{Name: "order"}, {Name: "payment"}}

	t.Run("valid PKI is kept", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		first := mustGenerate(t, dir, leaves, devpki.Options{})
		second := mustGenerate(t, dir, leaves, devpki.Options{})
		if len(second.Written) != 0 || len(second.Chmodded) != 0 {
			t.Errorf("second run changed %v %v, want nothing", second.Written, second.Chmodded)
		}
		if !second.NotAfter.Equal(first.NotAfter) {
			t.Errorf("NotAfter %v, want %v as on the first run", second.NotAfter, first.NotAfter)
		}
	})

	t.Run("force replaces all", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		mustGenerate(t, dir, leaves, devpki.Options{})
		before := readCert(t, filepath.Join(dir, "ca.pem"))
		res := mustGenerate(t, dir, leaves, devpki.Options{Force: true})
		if len(res.Written) != 6 {
			t.Errorf("wrote %v, want all 6 files", res.Written)
		}
		if readCert(t, filepath.Join(dir, "ca.pem")).Equal(before) {
			t.Error("CA unchanged after Force")
		}
	})

	t.Run("reissue replaces the leaves and keeps the CA", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		mustGenerate(t, dir, leaves, devpki.Options{})
		ca := readCert(t, filepath.Join(dir, "ca.pem"))
		leaf := readCert(t, filepath.Join(dir, leaves[0].Name+".pem"))
		res := mustGenerate(t, dir, leaves, devpki.Options{Reissue: true})
		if want := 2 * len(leaves); len(res.Written) != want {
			t.Errorf("wrote %v, want the %d leaf files", res.Written, want)
		}
		if !readCert(t, filepath.Join(dir, "ca.pem")).Equal(ca) {
			t.Error("CA replaced by Reissue")
		}
		if readCert(t, filepath.Join(dir, leaves[0].Name+".pem")).Equal(leaf) {
			t.Error("leaf unchanged after Reissue")
		}
	})

	t.Run("expiring PKI is renewed", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		// Issued so long ago that less than RenewBefore is left.
		old := time.Now().Add(-devpki.Validity + devpki.RenewBefore - time.Hour)
		mustGenerate(t, dir, leaves, devpki.Options{Now: old})
		res := mustGenerate(t, dir, leaves, devpki.Options{})
		if len(res.Written) != 6 {
			t.Errorf("wrote %v, want all 6 files", res.Written)
		}
		if left := time.Until(res.NotAfter); left < devpki.Validity-time.Hour {
			t.Errorf("renewed PKI valid for %v, want about %v", left, devpki.Validity)
		}
	})

	t.Run("missing leaf only is reissued", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		mustGenerate(t, dir, leaves, devpki.Options{})
		if err := os.Remove(filepath.Join(dir, "order.pem")); err != nil {
			t.Fatal(err)
		}
		res := mustGenerate(t, dir, leaves, devpki.Options{})
		want := []string{filepath.Join(dir, "order-key.pem"), filepath.Join(dir, "order.pem")}
		if !slices.Equal(res.Written, want) {
			t.Errorf("wrote %v, want %v", res.Written, want)
		}
	})

	t.Run("mismatched key is reissued", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		mustGenerate(t, dir, leaves, devpki.Options{})
		copyFile(t, filepath.Join(dir, "payment-key.pem"), filepath.Join(dir, "order-key.pem"))
		res := mustGenerate(t, dir, leaves, devpki.Options{})
		if len(res.Written) != 2 || !strings.HasSuffix(res.Written[1], "order.pem") {
			t.Errorf("wrote %v, want order's key and certificate", res.Written)
		}
		if _, err := tls.LoadX509KeyPair(filepath.Join(dir, "order.pem"), filepath.Join(dir, "order-key.pem")); err != nil {
			t.Errorf("order key pair after reissue: %v", err)
		}
	})

	t.Run("changed table reissues the leaf", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		mustGenerate(t, dir, leaves, devpki.Options{})
		changed := []devpki.Leaf{{Name: "order", ExtraDNS: []string{"order-0"}}, {Name: "payment"}}
		res := mustGenerate(t, dir, changed, devpki.Options{})
		if len(res.Written) != 2 || !strings.HasSuffix(res.Written[1], "order.pem") {
			t.Errorf("wrote %v, want order's key and certificate", res.Written)
		}
	})

	t.Run("new CA reissues every leaf", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		mustGenerate(t, dir, leaves, devpki.Options{})
		if err := os.Remove(filepath.Join(dir, "ca-key.pem")); err != nil {
			t.Fatal(err)
		}
		if res := mustGenerate(t, dir, leaves, devpki.Options{}); len(res.Written) != 6 {
			t.Errorf("wrote %v, want all 6 files", res.Written)
		}
	})
}

func TestGenerate_WorldReadableKeys(t *testing.T) {
	t.Parallel()
	leaves := []devpki.Leaf{{Name: "order"}}

	t.Run("new keys", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		mustGenerate(t, dir, leaves, devpki.Options{WorldReadableKeys: true})
		assertMode(t, filepath.Join(dir, "order-key.pem"), 0o644)
		assertMode(t, filepath.Join(dir, "ca-key.pem"), 0o600)
	})

	t.Run("existing keys follow the flag both ways", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		key := filepath.Join(dir, "order-key.pem")
		mustGenerate(t, dir, leaves, devpki.Options{})

		res := mustGenerate(t, dir, leaves, devpki.Options{WorldReadableKeys: true})
		if len(res.Written) != 0 || !slices.Equal(res.Chmodded, []string{key}) {
			t.Errorf("got written %v chmodded %v, want only %s chmodded", res.Written, res.Chmodded, key)
		}
		assertMode(t, key, 0o644)

		res = mustGenerate(t, dir, leaves, devpki.Options{})
		if !slices.Equal(res.Chmodded, []string{key}) {
			t.Errorf("chmodded %v, want %s", res.Chmodded, key)
		}
		assertMode(t, key, 0o600)
	})
}

func TestGenerate_KeyOwner(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		// Giving a file away takes root; CI runs as root.
		if os.Getenv("CI") == "true" {
			t.Fatal("KeyOwner needs root to chown, and CI must run this test")
		}
		t.Skip("not root: cannot chown")
	}
	const uid = 65532
	dir := t.TempDir()
	leaves := []devpki.Leaf{{Name: "order"}}
	mustGenerate(t, dir, leaves, devpki.Options{OwnDirs: true})
	own := filepath.Join(dir, "order", "order-key.pem")
	assertOwner(t, own, 0)

	res := mustGenerate(t, dir, leaves, devpki.Options{OwnDirs: true, KeyOwner: uid})
	if len(res.Written) != 0 || !slices.Equal(res.Chmodded, []string{own}) {
		t.Errorf("got written %v chmodded %v, want only %s given away", res.Written, res.Chmodded, own)
	}
	assertOwner(t, own, uid)
	assertMode(t, own, 0o600)
	assertOwner(t, filepath.Join(dir, "order-key.pem"), 0) // the host's copy stays the host user's
	assertOwner(t, filepath.Join(dir, "order", "order.pem"), 0)

	// A rotation writes new files; they are given away before they land.
	mustGenerate(t, dir, leaves, devpki.Options{OwnDirs: true, KeyOwner: uid, Reissue: true})
	assertOwner(t, own, uid)
	assertMode(t, own, 0o600)

	if _, err := devpki.Generate(dir, leaves, devpki.Options{OwnDirs: true, KeyOwner: uid, WorldReadableKeys: true}); err == nil {
		t.Error("KeyOwner with WorldReadableKeys accepted")
	}
}

func assertOwner(t *testing.T, path string, uid int) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid || int(st.Gid) != uid {
		t.Errorf("%s owned by %d:%d, want %d:%d", path, st.Uid, st.Gid, uid, uid)
	}
}

func TestGenerate_Errors(t *testing.T) {
	t.Parallel()
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dir     string
		leaves  []devpki.Leaf
		wantErr string
	}{
		{"no leaves", t.TempDir(), nil, "no leaves"},
		{"empty name", t.TempDir(), []devpki.Leaf{{Name: ""}}, "invalid leaf name"},
		{"path in name", t.TempDir(), []devpki.Leaf{{Name: "../order"}}, "invalid leaf name"},
		{"ca", t.TempDir(), []devpki.Leaf{{Name: "ca"}}, "overwrite the CA"},
		{"duplicate", t.TempDir(), []devpki.Leaf{{Name: "order"}, {Name: "order"}}, "appears twice"},
		{"out is a file", notADir, []devpki.Leaf{{Name: "order"}}, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := devpki.Generate(tt.dir, tt.leaves, devpki.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Generate error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func mustGenerate(t *testing.T, dir string, leaves []devpki.Leaf, opts devpki.Options) devpki.Result {
	t.Helper()
	res, err := devpki.Generate(dir, leaves, opts)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return res
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("%s: no CERTIFICATE PEM block", path)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cert
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}

func assertMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", filepath.Base(path), got, want)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
