// Command k8sschema writes the JSON schemas kubeconform validates
// shopmesh's Kubernetes manifests against, from the OpenAPI (v2) document
// of a Kubernetes release: api/openapi-spec/swagger.json inside the
// k8s.io/kubernetes module (make k8s-check finds it with go mod download;
// kubeconform ships no schemas and none can be fetched here).
//
//	k8sschema -spec <dir of k8s.io/kubernetes>/api/openapi-spec/swagger.json -out .build/k8s-schemas
//
// One file per kind, named as kubeconform's default schema location
// template expects ({kind}-{group}-{version}.json, lower case, the group up
// to its first dot; {kind}-{version}.json for the core group), holding the
// kind's definition and every definition it refers to. The schemas are
// strict, as the API server is with kubectl's field validation: an object
// with known properties allows no other (a misspelled field fails), and
// the two string formats that also take numbers (int-or-string, a
// quantity) accept both.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "k8sschema:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fl := flag.NewFlagSet("k8sschema", flag.ContinueOnError)
	fl.SetOutput(stderr)
	spec := fl.String("spec", "", "the release's api/openapi-spec/swagger.json")
	out := fl.String("out", "", "directory to write the schemas to")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *spec == "" || *out == "" {
		return errors.New("both -spec and -out are required")
	}
	f, err := os.Open(*spec)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := Write(f, *out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "k8sschema: %d kinds written to %s\n", n, *out)
	return nil
}

// Write reads an OpenAPI v2 document from spec and writes one schema per
// kind into dir, returning how many.
func Write(spec io.Reader, dir string) (int, error) {
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.NewDecoder(spec).Decode(&doc); err != nil {
		return 0, fmt.Errorf("read the OpenAPI document: %w", err)
	}
	if len(doc.Definitions) == 0 {
		return 0, errors.New("the OpenAPI document has no definitions")
	}
	for _, def := range doc.Definitions {
		tighten(def)
	}
	// A quantity ("100m", 1) has no format of its own in the document.
	if q, ok := doc.Definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"]; ok {
		q["format"] = "quantity"
		tighten(q)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, err
	}
	n := 0
	for name, def := range doc.Definitions {
		for _, gvk := range kinds(def) {
			schema := map[string]any{
				"$schema":     "http://json-schema.org/draft-07/schema#",
				"$ref":        "#/definitions/" + name,
				"definitions": closure(doc.Definitions, name),
			}
			b, err := json.Marshal(schema)
			if err != nil {
				return n, err
			}
			if err := os.WriteFile(filepath.Join(dir, fileName(gvk)), b, 0o644); err != nil { //nolint:gosec // G306: schemas are public
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// gvk is one x-kubernetes-group-version-kind entry of a definition.
type gvk struct{ group, version, kind string }

// kinds returns the kinds a definition is the top-level object of.
func kinds(def map[string]any) []gvk {
	list, _ := def["x-kubernetes-group-version-kind"].([]any)
	var out []gvk
	for _, e := range list {
		m, _ := e.(map[string]any)
		g, _ := m["group"].(string)
		v, _ := m["version"].(string)
		k, _ := m["kind"].(string)
		if k != "" && v != "" {
			out = append(out, gvk{g, v, k})
		}
	}
	return out
}

// fileName is kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}.json.
func fileName(k gvk) string {
	suffix := "-" + k.version
	if k.group != "" {
		suffix = "-" + strings.SplitN(k.group, ".", 2)[0] + suffix
	}
	return strings.ToLower(k.kind+suffix) + ".json"
}

// tighten makes a definition strict where the API server is: objects with
// properties take no others, and the string formats that the API also
// accepts as numbers take both. It walks nested schemas in place.
func tighten(s map[string]any) {
	switch s["format"] {
	case "int-or-string":
		delete(s, "type")
		delete(s, "format")
		s["oneOf"] = []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}
	case "quantity":
		delete(s, "type")
		delete(s, "format")
		s["oneOf"] = []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}
	}
	if _, ok := s["properties"]; ok {
		if _, set := s["additionalProperties"]; !set && s["x-kubernetes-preserve-unknown-fields"] != true {
			s["additionalProperties"] = false
		}
	}
	for _, key := range []string{"properties", "patternProperties"} {
		props, _ := s[key].(map[string]any)
		for _, p := range props {
			if m, ok := p.(map[string]any); ok {
				tighten(m)
			}
		}
	}
	for _, key := range []string{"items", "additionalProperties"} {
		if m, ok := s[key].(map[string]any); ok {
			tighten(m)
		}
	}
}

// closure returns name's definition and every definition it refers to,
// directly or not, with refs rewritten to point inside the one file.
func closure(defs map[string]map[string]any, name string) map[string]any {
	out := map[string]any{}
	var visit func(string)
	visit = func(n string) {
		if _, done := out[n]; done {
			return
		}
		def, ok := defs[n]
		if !ok {
			return
		}
		out[n] = def
		for _, ref := range refs(def) {
			visit(ref)
		}
	}
	visit(name)
	return out
}

// refs lists the definition names a schema refers to ("$ref":
// "#/definitions/<name>", the form swagger.json uses).
func refs(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && k == "$ref" {
				out = append(out, strings.TrimPrefix(s, "#/definitions/"))
				continue
			}
			out = append(out, refs(e)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, refs(e)...)
		}
	}
	return out
}
