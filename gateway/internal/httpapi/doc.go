// Package httpapi is the gateway's public REST API: JSON over HTTP in front
// of the inventory and order gRPC services. Every handler calls its peers
// with the request's own context (seed rule 4), bounded by a per-request
// budget, so a client that hangs up cancels the work downstream. Callers
// are named by a verified JWT (package auth), limited per client, and
// validated before any peer is called; openapi.json describes all of it
// and its tests keep it honest.
package httpapi
