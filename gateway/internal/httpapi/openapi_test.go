package httpapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/shopmesh/shopmesh/gateway/internal/httpapi"
	"github.com/shopmesh/shopmesh/gateway/internal/storefront"
)

// openAPIDoc is the part of the document the conformance checks read.
type openAPIDoc struct {
	OpenAPI string                                 `json:"openapi"`
	Paths   map[string]map[string]openAPIOperation `json:"paths"`
}

type openAPIOperation struct {
	OperationID string                     `json:"operationId"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

func loadOpenAPI() (openAPIDoc, error) {
	var doc openAPIDoc
	if err := json.Unmarshal(httpapi.OpenAPI(), &doc); err != nil {
		return doc, fmt.Errorf("decode openapi.json: %w", err)
	}
	return doc, nil
}

// ginParam turns gin's ":id" segments into OpenAPI's "{id}".
var ginParam = regexp.MustCompile(`:([A-Za-z_]+)`)

func TestOpenAPI_MatchesRoutes(t *testing.T) {
	t.Parallel()
	doc, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("got openapi %q, want a 3.x document", doc.OpenAPI)
	}
	// Every route, the dev sign-in's included.
	engine, ok := newHandler(t, nil, nil, withDevSignIn).(*gin.Engine)
	if !ok {
		t.Fatal("Handler() is not a *gin.Engine")
	}
	routes := map[string]bool{}
	for _, r := range engine.Routes() {
		if storefront.Serves(r.Path) {
			continue // pages, not the API
		}
		key := r.Method + " " + ginParam.ReplaceAllString(r.Path, "{$1}")
		routes[key] = true
		path := ginParam.ReplaceAllString(r.Path, "{$1}")
		if _, ok := doc.Paths[path][strings.ToLower(r.Method)]; !ok {
			t.Errorf("route %s is not in openapi.json", key)
		}
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if key := strings.ToUpper(method) + " " + path; !routes[key] {
				t.Errorf("openapi.json has %s (%s), which no route serves", key, op.OperationID)
			}
			if op.OperationID == "" || len(op.Responses) == 0 {
				t.Errorf("%s %s: want an operationId and responses", method, path)
			}
		}
	}
}

func TestOpenAPI_Served(t *testing.T) {
	t.Parallel()
	rec := serve(t, newHandler(t, nil, nil), http.MethodGet, "/openapi.json", nil, "")
	if rec.Code != http.StatusOK || rec.Body.String() != string(httpapi.OpenAPI()) {
		t.Errorf("got status %d and %d bytes, want 200 and the embedded document", rec.Code, rec.Body.Len())
	}
	if ct := rec.Result().Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("got Content-Type %q, want application/json", ct)
	}
}

// observed collects, across every test of the package, the statuses the
// handlers answered per request: serve records them and TestMain checks
// them against the document once all tests ran.
var observed struct {
	sync.Mutex
	seen map[string]map[int]bool // "GET /v1/orders/ord_1" → statuses
}

func observe(method, path string, code int) {
	observed.Lock()
	defer observed.Unlock()
	if observed.seen == nil {
		observed.seen = map[string]map[int]bool{}
	}
	key := method + " " + path
	if observed.seen[key] == nil {
		observed.seen[key] = map[int]bool{}
	}
	observed.seen[key][code] = true
}

// checkObserved fails when a test saw a status that the document does not
// declare for the operation of that request. Requests to no documented
// operation (the 404 and 405 of unknown routes) are not operations.
func checkObserved() error {
	observed.Lock()
	defer observed.Unlock()
	return checkStatuses(observed.seen)
}

// checkStatuses checks seen against the document.
func checkStatuses(seen map[string]map[int]bool) error {
	doc, err := loadOpenAPI()
	if err != nil {
		return err
	}
	type template struct {
		re     *regexp.Regexp
		method string
		path   string
	}
	var templates []template
	for path, ops := range doc.Paths {
		re := regexp.MustCompile("^" + regexp.MustCompile(`\\\{[A-Za-z_]+\\\}`).ReplaceAllString(regexp.QuoteMeta(path), `[^/]+`) + "$")
		for method := range ops {
			templates = append(templates, template{re, strings.ToUpper(method), path})
		}
	}
	var problems []string
	for key, codes := range seen {
		method, path, _ := strings.Cut(key, " ")
		i := slices.IndexFunc(templates, func(t template) bool { return t.method == method && t.re.MatchString(path) })
		if i < 0 {
			continue
		}
		op := doc.Paths[templates[i].path][strings.ToLower(method)]
		for code := range codes {
			if _, ok := op.Responses[strconv.Itoa(code)]; !ok {
				problems = append(problems, fmt.Sprintf("%s %s (%s): status %d is not declared", method, templates[i].path, key, code))
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return errors.New("openapi.json is missing statuses the handler tests saw:\n  " + strings.Join(problems, "\n  "))
	}
	return nil
}

func TestOpenAPI_ObservedCheckCatchesDrift(t *testing.T) {
	t.Parallel()
	// A status no operation declares must be reported; the real check
	// runs in TestMain, so this only proves it would fail.
	doc, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Paths["/v1/products"]["get"].Responses["418"]; ok {
		t.Fatal("openapi.json declares 418 for GET /v1/products")
	}
	err = checkStatuses(map[string]map[int]bool{"GET /v1/products": {http.StatusTeapot: true}})
	if err == nil || !strings.Contains(err.Error(), "status 418") {
		t.Errorf("got %v, want an error about status 418", err)
	}
}
