package auth

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/shopmesh/shopmesh/pkg/platform/settings"
)

// MinKeyBytes is the shortest signing key accepted: HS256 keys shorter than
// the hash output weaken the MAC.
const MinKeyBytes = 32

// Defaults of the issuer and audience when the environment names none.
const (
	DefaultIssuer   = "shopmesh-dev"
	DefaultAudience = "shopmesh-api"
)

// subjectPattern is the gateway's id pattern: a subject that could not be a
// customer id is rejected with the token rather than passed downstream.
var subjectPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Config names the key and the claims every token must carry.
type Config struct {
	// Key is the HS256 signing key, at least MinKeyBytes long.
	Key []byte
	// Issuer is the required "iss" (default DefaultIssuer).
	Issuer string
	// Audience is the required "aud" entry (default DefaultAudience).
	Audience string
}

// ReadConfig reads JWT_SIGNING_KEY, JWT_ISSUER and JWT_AUDIENCE, and
// reports to s what is wrong with them.
func ReadConfig(s *settings.Reader) Config {
	c := Config{
		Key:      []byte(s.String("JWT_SIGNING_KEY", "")),
		Issuer:   s.String("JWT_ISSUER", DefaultIssuer),
		Audience: s.String("JWT_AUDIENCE", DefaultAudience),
	}
	err := c.Validate()
	s.Check(err == nil, "%v", err)
	return c
}

// Validate reports a missing or short key, or an empty issuer or audience.
func (c Config) Validate() error {
	switch {
	case len(c.Key) == 0:
		return errors.New("JWT_SIGNING_KEY is required (HS256 key, at least 32 bytes)")
	case len(c.Key) < MinKeyBytes:
		return fmt.Errorf("JWT_SIGNING_KEY is %d bytes: want at least %d", len(c.Key), MinKeyBytes)
	case c.Issuer == "":
		return errors.New("JWT issuer is empty")
	case c.Audience == "":
		return errors.New("JWT audience is empty")
	}
	return nil
}

// Identity is the verified caller.
type Identity struct {
	Subject string
	Roles   []string
}

// HasRole reports whether the caller holds role.
func (id Identity) HasRole(role string) bool { return slices.Contains(id.Roles, role) }

// claims are the registered claims plus the roles.
type claims struct {
	jwt.RegisteredClaims
	Roles []string `json:"roles,omitempty"`
}

// Verifier checks tokens against one Config.
type Verifier struct {
	cfg    Config
	parser *jwt.Parser
}

// NewVerifier returns a Verifier, or the config's validation error.
func NewVerifier(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := jwt.NewParser(
		// Only HS256: a token may not pick its own algorithm ("none", RS256
		// with our key as the public key, ...).
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30*time.Second),
	)
	return &Verifier{cfg: cfg, parser: p}, nil
}

// Verify checks the token's signature, expiry, issuer, audience and
// subject, and returns who it names.
func (v *Verifier) Verify(token string) (Identity, error) {
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return v.cfg.Key, nil })
	if err != nil {
		return Identity{}, fmt.Errorf("verify token: %w", err)
	}
	if !subjectPattern.MatchString(c.Subject) {
		return Identity{}, errors.New("verify token: sub must be 1-64 letters, digits, '-' or '_'")
	}
	return Identity{Subject: c.Subject, Roles: c.Roles}, nil
}

// Mint signs a token for subject with roles, valid for ttl from now. It is
// for the dev token command and tests; production tokens come from an
// identity provider that shares the key.
func Mint(cfg Config, subject string, roles []string, ttl time.Duration, now time.Time) (string, error) {
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	if !subjectPattern.MatchString(subject) {
		return "", fmt.Errorf("mint token: subject %q: want 1-64 letters, digits, '-' or '_'", subject)
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: cfg.Issuer, Subject: subject, Audience: jwt.ClaimStrings{cfg.Audience},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Roles: roles,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(cfg.Key)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return s, nil
}
