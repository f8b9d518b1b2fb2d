package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRun_refusesBadArguments: every mistake is named before etcd is
// dialled. The set-up itself is discovery.EnableAccessControl's test; the
// command runs against real etcd in the e2e stack and in make up.
func TestRun_refusesBadArguments(t *testing.T) {
	t.Parallel()
	certs := t.TempDir() // empty: no identity to load
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown flag", []string{"-bogus"}, "flag provided but not defined"},
		{"stray argument", []string{"-endpoints", "https://etcd:2379", "extra"}, "unexpected arguments"},
		{"no endpoints", []string{"-endpoints", "", "-registrants", "order"}, "no etcd endpoints"},
		{"endpoint without a port", []string{"-endpoints", "https://etcd", "-registrants", "order"}, "want scheme://host:port"},
		{"nobody to let in", []string{"-endpoints", "https://etcd:2379"}, "nobody could use the registry"},
		{"no identity", []string{"-endpoints", "https://etcd:2379", "-registrants", "order", "-tls-dir", certs}, "load identity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			err := run(t.Context(), tt.args, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}
