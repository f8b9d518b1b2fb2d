package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPI is the API's OpenAPI 3 document, written by hand next to the
// handlers; openapi_test.go fails when it and the routes or the statuses
// the handlers answer drift apart (DESIGN.md, "Gateway": OpenAPI document
// served and tested).
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI document served at /openapi.json.
func OpenAPI() []byte { return openAPI }

func serveOpenAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openAPI)
}
