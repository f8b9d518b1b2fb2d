package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/shopmesh/shopmesh/pkg/platform/settings"

	"github.com/shopmesh/shopmesh/gateway/internal/auth"
)

var testConfig = auth.Config{Key: []byte(strings.Repeat("k", 32)), Issuer: "iss-test", Audience: "aud-test"}

func TestReadConfig(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		c, err := settings.Read(env(map[string]string{"JWT_SIGNING_KEY": strings.Repeat("x", 32)}), auth.ReadConfig)
		if err != nil {
			t.Fatal(err)
		}
		if c.Issuer != "shopmesh-dev" || c.Audience != "shopmesh-api" {
			t.Errorf("got issuer %q audience %q, want shopmesh-dev and shopmesh-api", c.Issuer, c.Audience)
		}
	})
	for name, key := range map[string]string{"missing": "", "31 bytes": strings.Repeat("x", 31)} {
		t.Run("key "+name, func(t *testing.T) {
			t.Parallel()
			_, err := settings.Read(env(map[string]string{"JWT_SIGNING_KEY": key}), auth.ReadConfig)
			if err == nil || !strings.Contains(err.Error(), "JWT_SIGNING_KEY") {
				t.Errorf("got error %v, want one naming JWT_SIGNING_KEY", err)
			}
		})
	}
}

func TestVerifier_Verify(t *testing.T) {
	t.Parallel()
	v, err := auth.NewVerifier(testConfig)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mint := func(t *testing.T, cfg auth.Config, sub string, ttl time.Duration) string {
		t.Helper()
		tok, err := auth.Mint(cfg, sub, []string{"admin"}, ttl, now)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	t.Run("valid", func(t *testing.T) {
		t.Parallel()
		id, err := v.Verify(mint(t, testConfig, "alice", time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if id.Subject != "alice" || !id.HasRole("admin") || id.HasRole("root") {
			t.Errorf("got %+v, want alice with role admin only", id)
		}
	})

	other := func(f func(*auth.Config)) auth.Config {
		c := testConfig
		f(&c)
		return c
	}
	noneToken, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
		"sub": "alice", "iss": "iss-test", "aud": "aud-test", "exp": now.Add(time.Minute).Unix(),
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "iss": "iss-test", "aud": "aud-test",
	}).SignedString(testConfig.Key)
	badSub, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "al.ice", "iss": "iss-test", "aud": "aud-test", "exp": now.Add(time.Minute).Unix(),
	}).SignedString(testConfig.Key)
	rejected := map[string]string{
		"expired":        mint(t, testConfig, "alice", -time.Minute),
		"wrongly signed": mint(t, other(func(c *auth.Config) { c.Key = []byte(strings.Repeat("z", 32)) }), "alice", time.Minute),
		"wrong audience": mint(t, other(func(c *auth.Config) { c.Audience = "elsewhere" }), "alice", time.Minute),
		"wrong issuer":   mint(t, other(func(c *auth.Config) { c.Issuer = "mallory" }), "alice", time.Minute),
		"alg none":       noneToken,
		"no exp":         noExp,
		"malformed sub":  badSub,
		"not a token":    "abc",
		"tampered":       mint(t, testConfig, "alice", time.Minute) + "x",
	}
	for name, tok := range rejected {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if id, err := v.Verify(tok); err == nil {
				t.Errorf("got identity %+v, want an error", id)
			}
		})
	}
}

func TestMint_RejectsBadInput(t *testing.T) {
	t.Parallel()
	if _, err := auth.Mint(testConfig, "a b", nil, time.Minute, time.Now()); err == nil {
		t.Error("Mint with subject \"a b\" returned no error")
	}
	if _, err := auth.Mint(auth.Config{Key: []byte("short"), Issuer: "i", Audience: "a"}, "alice", nil, time.Minute, time.Now()); err == nil {
		t.Error("Mint with a 5-byte key returned no error")
	}
}
