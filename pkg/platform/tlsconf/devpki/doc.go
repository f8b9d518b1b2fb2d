// Package devpki creates the development PKI that tlsconf.Load reads: one
// ECDSA P-256 CA and one certificate per shopmesh identity, each carrying
// spiffe://shopmesh/<name>.
//
// It is what cmd/devcerts ("make certs") runs, and it is a package rather
// than code inside that command so that tests — tlsconf's, grpcx's, the e2e
// suite's — can mint a complete PKI in t.TempDir() with one call, from the
// same code that makes the one developers use.
//
// Generate is idempotent: it keeps every file that is still good for more
// than RenewBefore and rewrites only what is missing, mismatched or about to
// expire, so "make up" can run it every time. A new CA invalidates every
// certificate it did not sign, so replacing the CA reissues all leaves.
//
// These keys are for development only. Nothing protects the CA key beyond
// file permissions, and WorldReadableKeys exists because containers need it
// when KeyOwner cannot be used (see Options); never use this package for a
// real deployment.
package devpki
