// Command devtoken prints a JWT the gateway accepts, signed with
// JWT_SIGNING_KEY for JWT_ISSUER and JWT_AUDIENCE (the gateway's own
// variables), for development and demos: `make token` runs it with the
// compose stack's dev-only key.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/settings"

	"github.com/shopmesh/shopmesh/gateway/internal/auth"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "devtoken:", err)
		os.Exit(1)
	}
}

func run(_ context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("devtoken", flag.ContinueOnError)
	sub := fs.String("sub", "alice", "the customer id (token subject)")
	roles := fs.String("roles", "", "comma-separated roles, e.g. admin")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *ttl <= 0 {
		return fmt.Errorf("-ttl %v: want a positive duration", *ttl)
	}
	cfg, err := settings.Read(getenv, auth.ReadConfig)
	if err != nil {
		return err
	}
	var rs []string
	for r := range strings.SplitSeq(*roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			rs = append(rs, r)
		}
	}
	tok, err := auth.Mint(cfg, *sub, rs, *ttl, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
