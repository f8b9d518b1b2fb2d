package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/shopmesh/shopmesh/pkg/platform/tlsconf"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRun(t *testing.T) {
	t.Parallel()
	files := 2 + 2*len(identities) // the CA and every leaf, certificate and key

	t.Run("first run writes every file, second run nothing", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "certs")
		out := mustRun(t, "-out", dir)
		if got := lines(out); len(got) != files || !strings.HasPrefix(got[0], "wrote "+dir) {
			t.Errorf("first run printed %d lines, want %d \"wrote\" lines:\n%s", len(got), files, out)
		}
		for _, l := range identities {
			if _, err := tlsconf.Load(dir, l.Name); err != nil {
				t.Errorf("Load(%q) after devcerts: %v", l.Name, err)
			}
		}

		out = mustRun(t, "-out", dir)
		if got := lines(out); len(got) != 1 || !strings.Contains(got[0], "up to date") {
			t.Errorf("second run printed %q, want one \"up to date\" line", out)
		}

		out = mustRun(t, "-out", dir, "-reissue")
		if got := lines(out); len(got) != files-2 || strings.Contains(out, "ca.pem") {
			t.Errorf("-reissue printed %d lines, want %d, none for the CA:\n%s", len(got), files-2, out)
		}

		out = mustRun(t, "-out", dir, "-force")
		if got := lines(out); len(got) != files {
			t.Errorf("-force printed %d lines, want %d:\n%s", len(got), files, out)
		}
	})

	t.Run("world-readable keys", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		mustRun(t, "-out", dir)
		out := mustRun(t, "-out", dir, "-world-readable")
		if got := lines(out); len(got) != len(identities) || !strings.HasPrefix(got[0], "chmod 0644 ") {
			t.Errorf("printed %q, want one \"chmod 0644\" line per leaf key", out)
		}
		fi, err := os.Stat(filepath.Join(dir, "order-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o644 {
			t.Errorf("order-key.pem mode %04o, want 0644", got)
		}
	})

	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name    string
			args    []string
			wantErr string
		}{
			{"unknown flag", []string{"-bogus"}, "flag provided but not defined"},
			{"stray argument", []string{"-out", t.TempDir(), "extra"}, "unexpected arguments"},
			{"out is a file", []string{"-out", file}, "not a directory"},
			{"force and reissue", []string{"-out", t.TempDir(), "-force", "-reissue"}, "choose one"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				err := run(tt.args, &stdout, &stderr)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("run(%q) error = %v, want one containing %q", tt.args, err, tt.wantErr)
				}
			})
		}
	})
}

// mustRun runs devcerts with args and returns what it printed.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatalf("run(%q): %v\nstderr: %s", args, err, stderr.String())
	}
	return stdout.String()
}

func lines(s string) []string {
	return strings.Split(strings.TrimSpace(s), "\n")
}

// TestRun_PerService: each identity's directory holds exactly the CA
// certificate and its own pair, loads as that identity, and a second run
// rewrites nothing.
func TestRun_PerService(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, "-out", dir, "-per-service")
	for _, l := range identities {
		sub := filepath.Join(dir, l.Name)
		if l.Name == "admin" {
			if _, err := os.Stat(sub); err == nil {
				t.Errorf("admin, a tool's identity, got a container directory")
			}
			continue
		}
		entries, err := os.ReadDir(sub)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		want := []string{"ca.pem", l.Name + "-key.pem", l.Name + ".pem"}
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Errorf("%s holds %v, want only %v", sub, names, want)
		}
		if _, err := tlsconf.Load(sub, l.Name); err != nil {
			t.Errorf("Load(%s, %s): %v", sub, l.Name, err)
		}
		fi, err := os.Stat(filepath.Join(sub, l.Name+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s's key mode %04o, want 0600", l.Name, got)
		}
	}
	if out := mustRun(t, "-out", dir, "-per-service"); !strings.Contains(out, "up to date") || len(lines(out)) != 1 {
		t.Errorf("second run printed %q, want one \"up to date\" line", out)
	}
}
