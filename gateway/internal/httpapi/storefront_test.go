package httpapi_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/gateway/internal/auth"
	"github.com/shopmesh/shopmesh/gateway/internal/httpapi"
	"github.com/shopmesh/shopmesh/gateway/internal/storefront"
)

// withDevSignIn turns the dev sign-in on, with the dev issuer it requires.
func withDevSignIn(c *httpapi.Config) {
	c.DevSignIn = true
	c.Auth.Issuer = auth.DefaultIssuer
}

func TestDevSignIn(t *testing.T) {
	t.Parallel()
	h := newHandler(t, nil, nil, withDevSignIn)
	devAuth := testAuth
	devAuth.Issuer = auth.DefaultIssuer
	verifier, err := auth.NewVerifier(devAuth)
	if err != nil {
		t.Fatal(err)
	}

	for account, roles := range map[string][]string{"alice": nil, "operator": {"admin"}} {
		t.Run("signs in "+account, func(t *testing.T) {
			t.Parallel()
			rec := serve(t, h, http.MethodPost, "/v1/dev/signin", nil, `{"customer":"`+account+`"}`)
			if rec.Code != http.StatusOK {
				t.Fatalf("got %d (%s), want 200", rec.Code, rec.Body)
			}
			var got httpapi.DevSignInResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			id, err := verifier.Verify(got.Token)
			if err != nil {
				t.Fatalf("the minted token does not verify: %v", err)
			}
			if id.Subject != account || !slices.Equal(id.Roles, roles) || got.Customer != account {
				t.Errorf("token names %q with roles %v (answer says %q), want %q with %v", id.Subject, id.Roles, got.Customer, account, roles)
			}
			if left := time.Until(got.ExpiresAt); left <= 0 || left > httpapi.DevTokenTTL {
				t.Errorf("expires in %v, want within %v", left, httpapi.DevTokenTTL)
			}
		})
	}
	t.Run("only demo accounts", func(t *testing.T) {
		t.Parallel()
		rec := serve(t, h, http.MethodPost, "/v1/dev/signin", nil, `{"customer":"mallory"}`)
		p := wantProblem(t, rec, http.StatusUnprocessableEntity, "validation_failed")
		if len(p.Errors) != 1 || p.Errors[0].Field != "customer" || !strings.Contains(p.Errors[0].Detail, "alice") {
			t.Errorf("got errors %+v, want one naming the field and the demo accounts", p.Errors)
		}
	})
	t.Run("roles cannot be asked for", func(t *testing.T) {
		t.Parallel()
		rec := serve(t, h, http.MethodPost, "/v1/dev/signin", nil, `{"customer":"alice","roles":["admin"]}`)
		wantProblem(t, rec, http.StatusBadRequest, "invalid_argument")
	})
	t.Run("off unless asked for", func(t *testing.T) {
		t.Parallel()
		rec := serve(t, newHandler(t, nil, nil), http.MethodPost, "/v1/dev/signin", nil, `{"customer":"alice"}`)
		wantProblem(t, rec, http.StatusNotFound, "not_found")
	})
}

// Beside a real identity provider (any other issuer) the dev sign-in would
// hand out tokens the gateway trusts to anyone: New refuses it.
func TestDevSignIn_RefusedOutsideDev(t *testing.T) {
	t.Parallel()
	cfg := httpapi.Config{Auth: testAuth, DevSignIn: true} // issuer shopmesh-test
	_, err := httpapi.New(&fakeInventory{}, &fakeOrders{}, slog.New(slog.DiscardHandler), cfg)
	if !errors.Is(err, httpapi.ErrDevSignInOutsideDev) {
		t.Errorf("got %v, want ErrDevSignInOutsideDev", err)
	}
}

// get serves one GET of a page or an asset (not an API route, so not
// recorded for the OpenAPI status check).
func get(h http.Handler, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

// The storefront's pages and every asset they name are served, with a
// policy that lets their own scripts run and nothing else; the API keeps
// its own, which lets nothing run.
func TestStorefront_Pages(t *testing.T) {
	t.Parallel()
	h := newHandler(t, nil, nil)
	ref := regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"|from "\./([^"]+)"`)
	seen := map[string]bool{}
	var check func(target string)
	check = func(target string) {
		if seen[target] {
			return
		}
		seen[target] = true
		rec := get(h, target)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", target, rec.Code)
			return
		}
		csp := rec.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q, want scripts from the gateway only and no framing", target, csp)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", target)
		}
		for _, m := range ref.FindAllStringSubmatch(rec.Body.String(), -1) {
			if m[1] != "" {
				check(m[1])
			} else {
				check("/assets/" + m[2])
			}
		}
	}
	for page := range storefront.Pages {
		check(page)
		if ct := get(h, page).Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q, want HTML", page, ct)
		}
	}
	for _, asset := range []string{"/assets/shop.js", "/assets/operator.js", "/assets/common.js", "/assets/style.css"} {
		if !seen[asset] {
			t.Errorf("%s is not named by any page or module", asset)
		}
	}
	if ct := get(h, "/assets/shop.js").Header().Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("shop.js served as %q, want JavaScript (modules are refused otherwise)", ct)
	}
	for _, missing := range []string{"/assets/missing.js", "/assets/"} {
		if rec := get(h, missing); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404 (files only, no listing)", missing, rec.Code)
		}
	}
	if csp := get(h, "/openapi.json").Header().Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("the API's policy became %q, want default-src 'none'", csp)
	}
}
