package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/shopmesh/shopmesh/gateway/internal/auth"
)

func TestRequireRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		roles []string
		code  int
	}{
		{"without the role", []string{"customer"}, http.StatusForbidden},
		{"with the role", []string{"customer", "admin"}, http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gin.SetMode(gin.ReleaseMode)
			r := gin.New()
			r.Use(func(c *gin.Context) { c.Set(identityKey{}, auth.Identity{Subject: "c-1", Roles: tt.roles}) })
			r.GET("/x", requireCaller(), requireRole("admin"), func(c *gin.Context) { c.Status(http.StatusNoContent) })
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
			if rec.Code != tt.code {
				t.Errorf("got status %d, want %d (body %s)", rec.Code, tt.code, rec.Body)
			}
		})
	}
}
