package devpki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
)

const (
	// Validity is how long a new certificate is valid: the CA and the
	// leaves alike. A leaf never outlives the CA that signed it.
	Validity = 365 * 24 * time.Hour
	// RenewBefore is how close to its expiry Generate replaces a
	// certificate, so a developer's PKI never expires in the middle of work.
	RenewBefore = 30 * 24 * time.Hour

	// backdate moves NotBefore into the past so a container whose clock is a
	// little behind the host's accepts a certificate made seconds ago.
	backdate = time.Hour

	caCertFile = "ca.pem"
	caKeyFile  = "ca-key.pem"
	caName     = "shopmesh dev CA"
)

// Leaf is one identity the dev PKI issues a certificate for.
type Leaf struct {
	// Name is the service name. The certificate carries the URI SAN
	// tlsconf.SPIFFEID(Name) and the DNS SANs Name and localhost, and is
	// written to <Name>.pem and <Name>-key.pem.
	Name string
	// ExtraDNS are more DNS names the certificate is valid for, for a
	// service whose instances are reached by their own names.
	ExtraDNS []string
	// Tool marks an identity used from the host (an operator's client),
	// never mounted into a container: Options.OwnDirs gives it no directory.
	Tool bool
}

// Named returns one plain Leaf per name. The identities a deployment needs
// are the deployment's to list (make certs: pkg/cmd/devcerts; the e2e
// stack: e2e/stack); the platform knows none by name.
func Named(names ...string) []Leaf {
	leaves := make([]Leaf, len(names))
	for i, n := range names {
		leaves[i] = Leaf{Name: n}
	}
	return leaves
}

// Options change what Generate does. The zero value is the safe default.
type Options struct {
	// Force replaces every file, valid or not.
	Force bool
	// Reissue replaces every leaf, valid or not, with a new key and
	// certificate from the CA it keeps: a rotation that processes watching
	// their files (tlsconf.Identity.Watch) take without a restart, since
	// every peer still trusts the same CA.
	Reissue bool
	// WorldReadableKeys writes leaf keys with mode 0644 instead of 0600.
	// The dev certificates are bind-mounted into FROM scratch images that run
	// as a non-root uid: unless KeyOwner gave it the files, that uid does not
	// own them, and a scratch image has no shell to chown them at start, so
	// a 0600 key cannot be read. The CA key, which no container needs, stays
	// 0600.
	WorldReadableKeys bool
	// OwnDirs also gives each leaf but a Tool a directory of its own,
	// dir/<Name>/, holding only the CA certificate and the leaf's pair:
	// what its container mounts, so a compromised container holds no other
	// identity's key and not the CA's. Copies are rewritten only when they
	// differ, and their key mode follows WorldReadableKeys.
	OwnDirs bool
	// KeyOwner, when not zero, is the uid (and gid) that owns the key in
	// each OwnDirs directory, mode 0600: the uid the containers run as, so
	// that only it can read the key. Changing a file's owner takes root;
	// without it, WorldReadableKeys is the development fallback. The two
	// exclude each other.
	KeyOwner int
	// Now is the time certificates are issued and checked at; zero means
	// time.Now(). Tests set it to make certificates that are about to expire.
	Now time.Time
}

// Result says what Generate changed.
type Result struct {
	// Written lists the files created or replaced, in the order written.
	Written []string
	// Chmodded lists existing files whose mode (Options.WorldReadableKeys)
	// or owner (Options.KeyOwner) Generate corrected.
	Chmodded []string
	// NotAfter is when the first of the certificates in dir expires.
	NotAfter time.Time
}

// Generate makes sure dir holds a CA and a valid certificate for each of
// leaves, creating dir if needed; see the package documentation for what it
// keeps and what it replaces. It returns an error for an empty, duplicate or
// invalid leaf name (including "ca", which would overwrite the CA) and for
// any failure to write.
func Generate(dir string, leaves []Leaf, opts Options) (Result, error) {
	if err := validate(leaves); err != nil {
		return Result{}, fmt.Errorf("generate dev PKI: %w", err)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	keyMode := fs.FileMode(0o600)
	if opts.WorldReadableKeys {
		keyMode = 0o644
	}
	if opts.KeyOwner != 0 && (opts.WorldReadableKeys || !opts.OwnDirs) {
		return Result{}, errors.New("generate dev PKI: KeyOwner is for the OwnDirs copies, and their keys are then 0600, not world-readable")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // G301: the containers' own uid reads the certificates
		return Result{}, fmt.Errorf("generate dev PKI: %w", err)
	}

	g := &generator{dir: dir, now: now}
	caCert, caKey, err := loadCA(dir, now)
	if opts.Force || err != nil {
		if caCert, caKey, err = g.newCA(); err != nil {
			return Result{}, fmt.Errorf("generate dev PKI: %w", err)
		}
	} else if err := g.ensureMode(caKeyFile, 0o600, 0); err != nil {
		return Result{}, fmt.Errorf("generate dev PKI: %w", err)
	}
	g.res.NotAfter = caCert.NotAfter

	for _, l := range leaves {
		cert, err := checkLeaf(dir, l, caCert, now)
		if opts.Force || opts.Reissue || err != nil {
			cert, err = g.newLeaf(l, caCert, caKey, keyMode)
		} else {
			err = g.ensureMode(l.Name+"-key.pem", keyMode, 0)
		}
		if err != nil {
			return Result{}, fmt.Errorf("generate dev PKI: %s: %w", l.Name, err)
		}
		if cert.NotAfter.Before(g.res.NotAfter) {
			g.res.NotAfter = cert.NotAfter
		}
	}
	if opts.OwnDirs {
		if err := g.writeOwnDirs(leaves, keyMode, opts.KeyOwner); err != nil {
			return Result{}, fmt.Errorf("generate dev PKI: %w", err)
		}
	}
	return g.res, nil
}

// writeOwnDirs copies the CA certificate and each non-Tool leaf's pair into
// dir/<Name>/ (Options.OwnDirs): a copy that differs is replaced, one that
// matches only gets its mode (and the key its owner, when keyOwner is not
// zero) corrected, both reported in g.res.
func (g *generator) writeOwnDirs(leaves []Leaf, keyMode fs.FileMode, keyOwner int) error {
	for _, l := range leaves {
		if l.Tool {
			continue
		}
		own := &generator{dir: filepath.Join(g.dir, l.Name), now: g.now}
		if err := os.MkdirAll(own.dir, 0o755); err != nil { //nolint:gosec // G301: the containers' own uid reads the certificates
			return err
		}
		for _, f := range []struct {
			name  string
			mode  fs.FileMode
			owner int
		}{{caCertFile, 0o644, 0}, {l.Name + ".pem", 0o644, 0}, {l.Name + "-key.pem", keyMode, keyOwner}} {
			data, err := os.ReadFile(filepath.Join(g.dir, f.name))
			if err != nil {
				return err
			}
			old, rerr := os.ReadFile(filepath.Join(own.dir, f.name))
			if rerr == nil && bytes.Equal(old, data) {
				err = own.ensureMode(f.name, f.mode, f.owner)
			} else {
				err = own.write(f.name, data, f.mode, f.owner)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", l.Name, err)
			}
		}
		g.res.Written = append(g.res.Written, own.res.Written...)
		g.res.Chmodded = append(g.res.Chmodded, own.res.Chmodded...)
	}
	return nil
}

// generator carries what every step of one Generate call needs.
type generator struct {
	dir string
	now time.Time
	res Result
}

// newCA creates and writes a self-signed CA.
func (g *generator) newCA() (*x509.Certificate, crypto.Signer, error) {
	tmpl := &x509.Certificate{
		// A nil SerialNumber makes x509 draw a random 159-bit one.
		Subject:               pkix.Name{Organization: []string{"shopmesh dev"}, CommonName: caName},
		NotBefore:             g.now.Add(-backdate),
		NotAfter:              g.now.Add(Validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		// The CA signs leaves directly; it may not make intermediates.
		MaxPathLenZero: true,
		KeyUsage:       x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("CA key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("CA certificate: %w", err)
	}
	if err := g.writeKeyPair(caCertFile, caKeyFile, der, key, 0o600); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// newLeaf creates and writes l's certificate, signed by the CA.
func (g *generator) newLeaf(l Leaf, ca *x509.Certificate, caKey crypto.Signer, keyMode fs.FileMode) (*x509.Certificate, error) {
	tmpl := leafTemplate(l)
	tmpl.NotBefore = g.now.Add(-backdate)
	tmpl.NotAfter = g.now.Add(Validity)
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	if err := g.writeKeyPair(l.Name+".pem", l.Name+"-key.pem", der, key, keyMode); err != nil {
		return nil, err
	}
	return cert, nil
}

// leafTemplate holds what a certificate for l must say, whenever it was made;
// checkLeaf compares existing certificates against it.
func leafTemplate(l Leaf) *x509.Certificate {
	dns := []string{l.Name, "localhost"}
	for _, n := range l.ExtraDNS {
		if !slices.Contains(dns, n) {
			dns = append(dns, n)
		}
	}
	return &x509.Certificate{
		Subject:     pkix.Name{Organization: []string{"shopmesh dev"}, CommonName: l.Name},
		URIs:        []*url.URL{{Scheme: "spiffe", Host: tlsconf.TrustDomain, Path: "/" + l.Name}},
		DNSNames:    dns,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		// ECDSA keys only sign; key encipherment is for RSA key exchange.
		KeyUsage: x509.KeyUsageDigitalSignature,
		// Every service is a server to its callers and a client of its peers.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
}

// loadCA reads the CA from dir and returns an error unless it is a
// self-signed CA matching its key and valid for more than RenewBefore.
func loadCA(dir string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, nil, err
	}
	ca := pair.Leaf
	key, ok := pair.PrivateKey.(crypto.Signer)
	switch {
	case !ok:
		return nil, nil, errors.New("CA key cannot sign")
	case !ca.IsCA:
		return nil, nil, errors.New("CA certificate is not a CA")
	case ca.CheckSignatureFrom(ca) != nil:
		return nil, nil, errors.New("CA certificate is not self-signed")
	}
	if err := checkTimes(ca, now); err != nil {
		return nil, nil, err
	}
	return ca, key, nil
}

// checkLeaf reads l's certificate from dir and returns an error unless it
// matches its key and leafTemplate(l), is signed by ca, and is valid for more
// than RenewBefore. A change to the Leaves table thus reissues the
// certificates it affects.
func checkLeaf(dir string, l Leaf, ca *x509.Certificate, now time.Time) (*x509.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, l.Name+".pem"), filepath.Join(dir, l.Name+"-key.pem"))
	if err != nil {
		return nil, err
	}
	cert, want := pair.Leaf, leafTemplate(l)
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return nil, err
	}
	same := func(a, b []string) bool {
		return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
	}
	var uris, wantURIs, ips, wantIPs []string
	for _, u := range cert.URIs {
		uris = append(uris, u.String())
	}
	for _, u := range want.URIs {
		wantURIs = append(wantURIs, u.String())
	}
	for _, ip := range cert.IPAddresses {
		ips = append(ips, ip.String())
	}
	for _, ip := range want.IPAddresses {
		wantIPs = append(wantIPs, ip.String())
	}
	if !same(uris, wantURIs) || !same(cert.DNSNames, want.DNSNames) || !same(ips, wantIPs) ||
		!slices.Equal(cert.ExtKeyUsage, want.ExtKeyUsage) {
		return nil, errors.New("certificate does not match the identity table")
	}
	if err := checkTimes(cert, now); err != nil {
		return nil, err
	}
	return cert, nil
}

// checkTimes returns an error unless cert is valid now and for more than
// RenewBefore.
func checkTimes(cert *x509.Certificate, now time.Time) error {
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("certificate not valid before %s", cert.NotBefore.Format(time.RFC3339))
	}
	if cert.NotAfter.Sub(now) <= RenewBefore {
		return fmt.Errorf("certificate expires %s", cert.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// writeKeyPair writes a certificate (0644) and its PKCS#8 key (keyMode).
func (g *generator) writeKeyPair(certName, keyName string, der []byte, key *ecdsa.PrivateKey, keyMode fs.FileMode) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal key: %w", err)
	}
	// Key first: a crash between the two leaves a key without its
	// certificate, which the next run replaces, never a certificate paired
	// with a stale key.
	if err := g.write(keyName, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), keyMode, 0); err != nil {
		return err
	}
	return g.write(certName, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644, 0)
}

// write replaces dir/name atomically (temporary file, then rename), so a
// reader never sees half a file and a failure leaves the old one in place;
// a non-zero owner becomes the file's uid and gid before it is in place.
func (g *generator) write(name string, data []byte, mode fs.FileMode, owner int) error {
	path := filepath.Join(g.dir, name)
	f, err := os.CreateTemp(g.dir, "."+name+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // no-op once renamed
	// Chmod explicitly: the mode given to OpenFile is filtered by the
	// umask, and a key that ends up 0600 instead of 0644 breaks containers.
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil && owner != 0 {
		err = f.Chown(owner, owner)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	g.res.Written = append(g.res.Written, path)
	return nil
}

// ensureMode gives the kept file dir/name the mode (and the non-zero
// owner) a new one would get, so that adding or dropping -world-readable or
// -key-owner takes effect without -force.
func (g *generator) ensureMode(name string, mode fs.FileMode, owner int) error {
	path := filepath.Join(g.dir, name)
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	changed := false
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && owner != 0 && int(st.Uid) != owner {
		if err := os.Chown(path, owner, owner); err != nil {
			return err
		}
		changed = true
	}
	if fi.Mode().Perm() != mode {
		if err := os.Chmod(path, mode); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		g.res.Chmodded = append(g.res.Chmodded, path)
	}
	return nil
}

// validate checks that every leaf name is a valid service name, unique, and
// does not collide with the CA's files.
func validate(leaves []Leaf) error {
	if len(leaves) == 0 {
		return errors.New("no leaves to issue")
	}
	seen := make(map[string]bool, len(leaves))
	for _, l := range leaves {
		if !validName(l.Name) {
			return fmt.Errorf("invalid leaf name %q: want letters, digits, '-', '.' or '_'", l.Name)
		}
		if l.Name == "ca" {
			return errors.New(`leaf name "ca" would overwrite the CA's files`)
		}
		if seen[l.Name] {
			return fmt.Errorf("leaf name %q appears twice", l.Name)
		}
		seen[l.Name] = true
	}
	return nil
}

// validName mirrors the service names tlsconf accepts: one SPIFFE path
// segment, which is also a safe file name.
func validName(name string) bool {
	if name == "" || name == "." || name == ".." {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}
