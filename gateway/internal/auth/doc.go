// Package auth verifies and mints the gateway's JWT bearer tokens: HS256,
// with issuer, audience and expiry always checked (DESIGN.md, "Gateway":
// JWT bearer auth at the edge). The customer id is the token's subject and
// must look like every other id the services issue; roles come from the
// "roles" claim.
package auth
