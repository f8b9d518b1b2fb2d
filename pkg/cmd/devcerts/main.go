// Command devcerts writes the development PKI that shopmesh's processes load
// with tlsconf.Load: a CA and one certificate per identity in identities.
// "make certs" runs it from the repository root:
//
//	go run ./pkg/cmd/devcerts -out deploy/certs [-force | -reissue] [-per-service [-key-owner UID | -world-readable]]
//
// It is idempotent: when every certificate is valid for more than 30 days it
// writes nothing and says so in one line; otherwise it replaces what is
// missing, mismatched or expiring, printing one line per file. -force
// replaces everything. -reissue replaces every leaf but keeps the CA: a
// rotation the running services pick up without a restart (make certs
// ROTATE=1; tlsconf.Identity.Watch). -world-readable writes the leaf keys 0644 instead of
// 0600, for the Docker setup, whose scratch containers run as a uid that
// does not own the bind-mounted files; the keys are dev-only. -per-service
// also gives each identity but admin (a tool's) a directory of its own,
// <out>/<name>, holding only the CA certificate and its own pair: what its
// container mounts (devpki.Options.OwnDirs). -key-owner gives the key in
// each of those directories to the uid the containers run as, mode 0600,
// in place of -world-readable; it takes root (make certs uses it when run
// as root).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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
	// their own names (on Kubernetes, through the peer Service of
	// deploy/k8s/base/etcd.yaml).
	{Name: "etcd", ExtraDNS: []string{"etcd-0", "etcd-1", "etcd-2", "etcd-0.etcd-peer", "etcd-1.etcd-peer", "etcd-2.etcd-peer"}},
	{Name: "otelcol"},
	// The one-shot that turns on etcd's access control, an etcd admin.
	{Name: "etcdaccess"},
	{Name: "admin", Tool: true},
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
	reissue := fl.Bool("reissue", false,
		"replace every leaf certificate and key but keep the CA (a rotation running services reload)")
	worldReadable := fl.Bool("world-readable", false,
		"write leaf keys with mode 0644 so non-root containers can read them (dev only)")
	perService := fl.Bool("per-service", false,
		"also write <out>/<name>/ per identity with only ca.pem and its own pair, for its container to mount")
	keyOwner := fl.Int("key-owner", 0,
		"with -per-service: the uid (and gid) that owns each directory's key, mode 0600 (needs root; replaces -world-readable)")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	if *force && *reissue {
		// A new CA under running services is not a rotation they survive:
		// say which one was meant instead of guessing.
		return errors.New("-force and -reissue: choose one (-reissue keeps the CA, -force replaces it)")
	}

	res, err := devpki.Generate(*out, identities, devpki.Options{
		Force:             *force,
		Reissue:           *reissue,
		WorldReadableKeys: *worldReadable,
		OwnDirs:           *perService,
		KeyOwner:          *keyOwner,
	})
	if err != nil {
		return err
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
