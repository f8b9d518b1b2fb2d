package stack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"
)

// Bearer returns an Authorization header value the stack's gateway accepts
// for customer: an HS256 JWT signed with JWTSigningKey for the gateway's
// default issuer and audience, valid for an hour, with roles. It is built
// with the standard library on purpose, so the tests check the gateway
// against the JWT format rather than against its own library.
func Bearer(customer string, roles ...string) string {
	return BearerSignedWith(JWTSigningKey, customer, roles...)
}

// BearerSignedWith is Bearer for a gateway whose JWT_SIGNING_KEY is key,
// such as the `make up` stack's.
func BearerSignedWith(key, customer string, roles ...string) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"iss": "shopmesh-dev", "aud": "shopmesh-api", "sub": customer, "roles": roles,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	signing := header + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(signing))
	return "Bearer " + signing + "." + enc.EncodeToString(mac.Sum(nil))
}
