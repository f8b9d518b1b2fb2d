// Package storefront is the web shop the gateway serves at "/": a catalog,
// a cart, checkout with test cards, the customer's orders with live status,
// and an operator's page of parked orders. It is static files embedded in
// the binary (no build step: no JavaScript registry is reachable where
// shopmesh is built) whose scripts use only the public REST API, so the
// page is the API's first client and shows what any client sees.
package storefront

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

//go:embed site
var site embed.FS

// pageHeaders are the security headers of the pages, in place of the API's
// (which allow nothing to run): scripts, styles and requests only from the
// gateway itself, no inline code, never framed.
var pageHeaders = [][2]string{
	{"Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"},
	{"Cache-Control", "no-cache"},
}

// Pages are the paths of the pages Register serves, beside the assets
// under /assets/.
var Pages = map[string]string{"/": "site/index.html", "/operator": "site/operator.html"}

// Register adds the pages and their assets to r.
func Register(r gin.IRoutes) {
	assets, err := fs.Sub(site, "site/assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix("/assets/", http.FileServerFS(assets))
	r.GET("/assets/*file", func(c *gin.Context) {
		if strings.HasSuffix(c.Param("file"), "/") {
			c.Status(http.StatusNotFound) // files only, no listings
			return
		}
		setPageHeaders(c)
		files.ServeHTTP(c.Writer, c.Request)
	})
	for path, file := range Pages {
		page, err := site.ReadFile(file)
		if err != nil {
			panic(err)
		}
		// Served as bytes: http.FileServer would redirect ".../index.html".
		r.GET(path, func(c *gin.Context) {
			setPageHeaders(c)
			c.Data(http.StatusOK, "text/html; charset=utf-8", page)
		})
	}
}

func setPageHeaders(c *gin.Context) {
	h := c.Writer.Header()
	for _, kv := range pageHeaders {
		h.Set(kv[0], kv[1])
	}
}

// Serves reports whether Register serves path (a gin route pattern): the
// pages and their assets, which are not part of the REST API.
func Serves(path string) bool {
	_, page := Pages[path]
	return page || path == "/assets/*file"
}
