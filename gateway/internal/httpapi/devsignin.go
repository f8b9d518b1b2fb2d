package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shopmesh/shopmesh/gateway/internal/auth"
)

// DevAccounts are whom the dev sign-in signs in, with their roles: three
// demo customers and an operator. It mints tokens for no one else.
var DevAccounts = map[string][]string{"alice": nil, "bob": nil, "carol": nil, "operator": {"admin"}}

// DevTokenTTL is how long a dev sign-in's token is valid; the storefront
// signs in again when it expires.
const DevTokenTTL = 15 * time.Minute

// ErrDevSignInOutsideDev is New's answer to the dev sign-in asked for with
// a real identity provider's issuer.
var ErrDevSignInOutsideDev = errors.New("DEV_SIGNIN mints a token for anyone who asks: it runs only where tokens are the dev stack's own (JWT_ISSUER " + auth.DefaultIssuer + "), never beside a real identity provider")

// CheckDevSignIn refuses the dev sign-in outside a dev configuration: a
// token it mints carries the dev issuer, so with any other JWT_ISSUER it
// would be a token anyone can get from a gateway that trusts a real
// identity provider's.
func CheckDevSignIn(on bool, issuer string) error {
	if on && issuer != auth.DefaultIssuer {
		return fmt.Errorf("%w; JWT_ISSUER is %q", ErrDevSignInOutsideDev, issuer)
	}
	return nil
}

// DevSignInRequest names the demo account to sign in as.
type DevSignInRequest struct {
	Customer string `json:"customer"`
}

// DevSignInResponse is a token the gateway accepts, for that account.
type DevSignInResponse struct {
	Token     string    `json:"token"`
	Customer  string    `json:"customer"`
	Roles     []string  `json:"roles"`
	ExpiresAt time.Time `json:"expires_at"`
}

// devSignIn mints a short-lived token for a demo account (DEV_SIGNIN only;
// a real deployment signs people in with its identity provider, README
// "Sign-in").
func (a *API) devSignIn(c *gin.Context) {
	var req DevSignInRequest
	if err := decodeStrict(c.Request.Body, &req); err != nil {
		abortProblem(c, http.StatusBadRequest, "invalid_argument", err.Error())
		return
	}
	roles, ok := DevAccounts[req.Customer]
	if !ok {
		names := make([]string, 0, len(DevAccounts))
		for n := range DevAccounts {
			names = append(names, n)
		}
		slices.Sort(names)
		abortValidation(c, []FieldError{{Field: "customer", Detail: "must be one of the demo accounts: " + strings.Join(names, ", ")}})
		return
	}
	now := time.Now()
	tok, err := auth.Mint(a.cfg.Auth, req.Customer, roles, DevTokenTTL, now)
	if err != nil {
		a.logger.ErrorContext(c.Request.Context(), "dev sign-in", "error", err)
		abortProblem(c, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	a.logger.InfoContext(c.Request.Context(), "dev sign-in", "customer", req.Customer, "roles", roles)
	c.JSON(http.StatusOK, DevSignInResponse{Token: tok, Customer: req.Customer, Roles: append([]string{}, roles...), ExpiresAt: now.Add(DevTokenTTL).UTC()})
}
