// Command devcerts writes the development PKI that shopmesh's processes load
// with tlsconf.Load: a CA and one certificate per identity in identities.
// "make certs" runs it from the repository root:
//
//	go run ./pkg/cmd/devcerts -out deploy/certs [-force] [-world-readable] [-per-service]
//
// It is idempotent: when every certificate is valid for more than 30 days it
// writes nothing and says so in one line; otherwise it replaces what is
// missing, mismatched or expiring, printing one line per file. -force
// replaces everything. -world-readable writes the leaf keys 0644 instead of
// 0600, for the Docker setup, whose scratch containers run as a uid that
// does not own the bind-mounted files; the keys are dev-only. -per-service
// also gives each identity but admin a directory of its own, <out>/<name>,
// holding only the CA certificate and its own pair: what its container
// mounts, so a compromised container holds no other service's key and not
// the CA's.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf/devpki"
)

// identities is the compose stack's identity table: the services, the
// infrastructure they reach by DNS name with HostClientConfig, and admin, a
// client identity for tools. A new service adds its row here.
var identities = []devpki.Leaf{
	{Name: "gateway"},
	{Name: "order"},
	{Name: "inventory"},
	{Name: "payment"},
	{Name: "shipping"},
	{Name: "paysim"},
	// Clients reach the cluster as "etcd" and members reach each other by
	// their own names.
	{Name: "etcd", ExtraDNS: []string{"etcd-0", "etcd-1", "etcd-2"}},
	{Name: "otelcol"},
	{Name: "admin"},
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "devcerts:", err)
		os.Exit(1)
	}
}

// run parses args, generates the PKI and reports on stdout. It has no
// context: it does a few milliseconds of local file work and nothing that
// waits on anyone else.
func run(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("devcerts", flag.ContinueOnError)
	fl.SetOutput(stderr)
	out := fl.String("out", "deploy/certs", "directory to write the PKI to")
	force := fl.Bool("force", false, "replace every certificate and key, even valid ones")
	worldReadable := fl.Bool("world-readable", false,
		"write leaf keys with mode 0644 so non-root containers can read them (dev only)")
	perService := fl.Bool("per-service", false,
		"also write <out>/<name>/ per identity with only ca.pem and its own pair, for its container to mount")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fl.Args())
	}

	res, err := devpki.Generate(*out, identities, devpki.Options{
		Force:             *force,
		WorldReadableKeys: *worldReadable,
	})
	if err != nil {
		return err
	}
	if *perService {
		keyMode := fs.FileMode(0o600)
		if *worldReadable {
			keyMode = 0o644
		}
		copied, err := writePerService(*out, keyMode)
		if err != nil {
			return err
		}
		res.Written = append(res.Written, copied...)
	}
	for _, path := range res.Written {
		fmt.Fprintln(stdout, "wrote", path)
	}
	for _, path := range res.Chmodded {
		if fi, err := os.Stat(path); err == nil {
			fmt.Fprintf(stdout, "chmod %04o %s\n", fi.Mode().Perm(), path)
		}
	}
	if len(res.Written) == 0 && len(res.Chmodded) == 0 {
		fmt.Fprintf(stdout, "%s is up to date, valid until %s (-force to regenerate)\n",
			*out, res.NotAfter.UTC().Format(time.DateOnly))
	}
	return nil
}

// writePerService copies, for each identity but admin (a tool's, on the
// host), the CA certificate and the identity's pair into dir/<name>/,
// rewriting only what differs. It returns the files written.
func writePerService(dir string, keyMode fs.FileMode) ([]string, error) {
	var written []string
	for _, l := range identities {
		if l.Name == "admin" {
			continue
		}
		sub := filepath.Join(dir, l.Name)
		if err := os.MkdirAll(sub, 0o755); err != nil { //nolint:gosec // a directory of certificates the containers' uid must enter
			return nil, err
		}
		for name, mode := range map[string]fs.FileMode{"ca.pem": 0o644, l.Name + ".pem": 0o644, l.Name + "-key.pem": keyMode} {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return nil, err
			}
			dst := filepath.Join(sub, name)
			if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, data) {
				if fi, err := os.Stat(dst); err == nil && fi.Mode().Perm() == mode {
					continue
				}
			}
			if err := os.WriteFile(dst, data, mode); err != nil { //nolint:gosec // dst is a fixed name under the -out directory the developer named
				return nil, err
			}
			// WriteFile keeps an existing file's mode.
			if err := os.Chmod(dst, mode); err != nil {
				return nil, err
			}
			written = append(written, dst)
		}
	}
	return written, nil
}
