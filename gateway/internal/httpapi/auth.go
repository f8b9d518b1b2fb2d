package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/shopmesh/shopmesh/gateway/internal/auth"
)

// identityKey is the gin context key of the verified caller.
type identityKey struct{}

// authenticate verifies a bearer token when one is sent and records who it
// names. A request without one goes on anonymous (the catalog is public);
// routes that need a caller add requireCaller. A token that fails
// verification is refused here, whatever the route: a client with a broken
// token should learn it at once.
func (a *API) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		if h == "" {
			c.Next()
			return
		}
		// Refused tokens count against the caller's IP, so guessing them
		// is rate limited like anything else.
		refuse := func(challenge, detail string) {
			if a.admit(c, "ip:"+c.ClientIP()) {
				unauthorized(c, challenge, detail)
			}
		}
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			refuse(`Bearer realm="shopmesh", error="invalid_request"`, "Authorization must be 'Bearer <token>'")
			return
		}
		id, err := a.verifier.Verify(strings.TrimSpace(token))
		if err != nil {
			// The reason goes to the log, not to a client probing tokens.
			a.logger.InfoContext(c.Request.Context(), "bearer token refused", "error", err)
			refuse(`Bearer realm="shopmesh", error="invalid_token"`, "the bearer token is invalid or expired")
			return
		}
		c.Set(identityKey{}, id)
		c.Next()
	}
}

// requireCaller refuses anonymous requests with 401.
func requireCaller() gin.HandlerFunc {
	return func(c *gin.Context) {
		if _, ok := identity(c); !ok {
			unauthorized(c, `Bearer realm="shopmesh"`, "a bearer token is required")
			return
		}
		c.Next()
	}
}

// requireRole refuses callers without role with 403; it runs after
// requireCaller.
func requireRole(role string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if id, _ := identity(c); !id.HasRole(role) {
			abortProblem(c, http.StatusForbidden, "forbidden", "the "+role+" role is required")
			return
		}
		c.Next()
	}
}

func unauthorized(c *gin.Context, challenge, detail string) {
	c.Header("WWW-Authenticate", challenge)
	abortProblem(c, http.StatusUnauthorized, "unauthenticated", detail)
}

func identity(c *gin.Context) (auth.Identity, bool) {
	v, ok := c.Get(identityKey{})
	if !ok {
		return auth.Identity{}, false
	}
	id, ok := v.(auth.Identity)
	return id, ok
}

// customerID is the verified caller's subject; requireCaller guarantees one
// on every route that asks.
func customerID(c *gin.Context) string {
	id, _ := identity(c)
	return id.Subject
}
