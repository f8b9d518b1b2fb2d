package main

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yannh/kubeconform/pkg/validator"
)

// kubernetesVersion is the release whose OpenAPI document the schemas come
// from; the Makefile's K8S_VERSION names the same one.
const kubernetesVersion = "v1.34.4"

// TestSchemas_catchPlantedMistakes generates the schemas from the pinned
// release and validates manifests through kubeconform as make k8s-check
// does: valid objects pass, and each planted mistake (a misspelled field, a
// string where an integer belongs, a field where none exists) is caught.
func TestSchemas_catchPlantedMistakes(t *testing.T) {
	dir := t.TempDir()
	spec, err := os.Open(openAPISpec(t))
	if err != nil {
		t.Fatal(err)
	}
	defer spec.Close()
	n, err := Write(spec, dir)
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Fatalf("%d kinds written, want the whole API (over 100)", n)
	}
	for _, f := range []string{"deployment-apps-v1.json", "service-v1.json", "networkpolicy-networking-v1.json",
		"horizontalpodautoscaler-autoscaling-v2.json", "poddisruptionbudget-policy-v1.json", "statefulset-apps-v1.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("no schema %s: %v", f, err)
		}
	}
	v, err := validator.New([]string{filepath.Join(dir, "{{ .ResourceKind }}{{ .KindSuffix }}.json")},
		validator.Opts{Strict: true})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, manifest string
		valid          bool
		wantErr        string
	}{
		{"valid deployment", deployment("replicas: 2", "containerPort: 8080", "cpu: 100m"), true, ""},
		{"quantities as numbers", deployment("replicas: 2", "containerPort: 8080", "cpu: 1"), true, ""},
		{"misspelled field", deployment("replica: 2", "containerPort: 8080", "cpu: 100m"), false, "replica"},
		{"string for an integer", deployment(`replicas: "three"`, "containerPort: 8080", "cpu: 100m"), false, "replicas"},
		{"string port", deployment("replicas: 2", `containerPort: "http"`, "cpu: 100m"), false, "containerPort"},
		{"service target port by name", service("targetPort: grpc"), true, ""},
		{"service target port by number", service("targetPort: 8080"), true, ""},
		{"service target port as a list", service("targetPort: [8080]"), false, "targetPort"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := v.Validate(tt.name, io.NopCloser(strings.NewReader(tt.manifest)))
			if len(res) != 1 {
				t.Fatalf("%d results, want 1", len(res))
			}
			r := res[0]
			switch {
			case tt.valid && r.Status != validator.Valid:
				t.Errorf("status %v (%v), want valid", r.Status, r.Err)
			case !tt.valid && r.Status != validator.Invalid:
				t.Errorf("status %v (%v), want invalid", r.Status, r.Err)
			case !tt.valid && !strings.Contains(r.Err.Error(), tt.wantErr):
				t.Errorf("error %v, want it to name %q", r.Err, tt.wantErr)
			}
		})
	}
}

// openAPISpec returns the path of the pinned release's swagger.json,
// downloading the k8s.io/kubernetes module through the module proxy (its
// zip, about 18 MB, into the module cache) unless K8S_OPENAPI_SPEC names it.
func openAPISpec(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("K8S_OPENAPI_SPEC"); p != "" {
		return p
	}
	out, err := exec.CommandContext(t.Context(), "go", "mod", "download", "-json", "k8s.io/kubernetes@"+kubernetesVersion).Output()
	if err != nil {
		t.Fatalf("go mod download k8s.io/kubernetes@%s: %v", kubernetesVersion, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download: %v (%s)", err, out)
	}
	return filepath.Join(mod.Dir, "api", "openapi-spec", "swagger.json")
}

func deployment(replicas, port, cpu string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: order
spec:
  ` + replicas + `
  selector:
    matchLabels:
      app: order
  template:
    metadata:
      labels:
        app: order
    spec:
      containers:
        - name: order
          image: shopmesh/order:dev
          ports:
            - ` + port + `
          resources:
            requests:
              ` + cpu + `
`
}

func service(targetPort string) string {
	return `apiVersion: v1
kind: Service
metadata:
  name: order
spec:
  selector:
    app: order
  ports:
    - port: 8080
      ` + targetPort + `
`
}
